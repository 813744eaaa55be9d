"""CTC: the loss (the one place it is computed) and greedy decoding."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ctc_loss(log_probs: torch.Tensor, out_lens: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
    """CTC loss with blank 0.

    log_probs (N, T', C) log-softmax output; out_lens (N,); targets (N, S) padded; target_lens (N,).
    `mean`: per-utterance loss divided by its target length, averaged over the batch
    (PyTorch's convention); `sum`: summed per-utterance losses; `none`: (N,).
    An impossible alignment gives +inf (not silently zero): the trainer skips that step.
    """
    return F.ctc_loss(log_probs.transpose(0, 1).float(), targets, out_lens, target_lens,
                      blank=0, reduction=reduction, zero_infinity=False)


def min_frames_needed(target_ids: list[int]) -> int:
    """Fewest output frames that can emit this sequence: one per label, plus a blank between repeats."""
    return len(target_ids) + sum(1 for a, b in zip(target_ids, target_ids[1:]) if a == b)


def greedy_decode(log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks. (N, T', C) -> N id lists."""
    best = log_probs.argmax(-1).cpu()  # (N, T')
    hyps = []
    for row, n in zip(best, out_lens.tolist()):
        row = torch.unique_consecutive(row[:n])
        hyps.append(row[row != 0].tolist())
    return hyps
