"""CTC: the loss (the one place it is computed), greedy and prefix beam search decoding,
and frame alignment of a hypothesis (for timestamps).

flashlight's decoder (`torchaudio.models.decoder.ctc_decoder`) needs the separate
flashlight-text package, which is not installed, so the beam search is written here in
numpy: a Python loop over frames, everything within a frame vectorised over the beam.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from phonerec.features.dsp import forced_align

_NEG_INF = np.float32(-np.inf)


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


def prefix_beam_search(log_probs, beam: int = 16, lm: np.ndarray | None = None, lm_weight: float = 0.0,
                       insertion_bonus: float = 0.0) -> tuple[list[int], float]:
    """CTC prefix beam search over one utterance's (T, C) log posteriors (blank 0).

    Hypotheses are (prefix, last frame was blank) states, as in flashlight's lexicon-free
    decoder: all paths into a state are summed (log-add), the `beam` best states are kept
    per frame, and at the end the states of one prefix are summed. Keeping the blank flag
    in the state is what makes beam 1 exactly the greedy best path.

    Score = log P_ctc(prefix) + lm_weight * log P_lm(prefix + </s>) + insertion_bonus * len.
    `lm` is a (C, C) matrix of log P(next | previous) over token ids, where history id 0 is
    the sentence start and next id 0 the sentence end (`BigramLM.matrix`).
    Returns (token ids, score).
    """
    lp = np.asarray(log_probs.detach().cpu() if torch.is_tensor(log_probs) else log_probs, dtype=np.float32)
    if lp.ndim != 2:
        raise ValueError(f"expected (T, C) log posteriors, got shape {lp.shape}")
    n_frames, n_cls = lp.shape
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    use_lm = lm is not None and lm_weight != 0.0
    if use_lm:
        lm = np.asarray(lm, dtype=np.float32)
        if lm.shape != (n_cls, n_cls):
            raise ValueError(f"LM matrix {lm.shape} does not match {n_cls} output classes")
        # Everything a new token adds to the score, by (previous token, token).
        add = (lm_weight * lm + np.float32(insertion_bonus)).astype(np.float32)
    else:
        add = np.full((n_cls, n_cls), insertion_bonus, dtype=np.float32)
    # Prefix trie: a node per prefix ever kept; node 0 is the empty prefix.
    parent, last, lm_acc, children = [-1], [0], [0.0], {}
    node = [0]  # beam: node of each state
    is_blank = np.array([True])
    ac = np.zeros(1, dtype=np.float32)  # acoustic log prob of each state
    for t in range(n_frames):
        row = lp[t]
        k_n = len(node)
        idx = np.arange(k_n)
        last_k = np.fromiter((last[n] for n in node), dtype=np.int64, count=k_n)
        lm_k = np.fromiter((lm_acc[n] for n in node), dtype=np.float32, count=k_n)
        first, partner = {}, idx.copy()  # partner: the other-flag state of the same prefix
        for k, n in enumerate(node):
            j = first.setdefault(n, k)
            if j != k:
                partner[k], partner[j] = j, k
        canon = partner >= idx  # one state per prefix carries its extensions
        other = np.where(partner != idx, ac[partner], _NEG_INF)
        total = np.logaddexp(ac, other)  # the prefix's mass, both flags
        from_blank = np.where(is_blank, ac, other)
        stay_b = np.where(canon, total + row[0], _NEG_INF)
        stay_nb = np.where(~is_blank & (last_k > 0), ac + row[last_k], _NEG_INF)
        ext = total[:, None] + row[None, :]
        ext[idx, last_k] = from_blank + row[last_k]  # a repeat needs a blank in between
        ext[:, 0] = _NEG_INF
        ext[~canon] = _NEG_INF
        # An extension that lands on a prefix already in the beam joins its non-blank state.
        for j in np.flatnonzero(~is_blank):
            i = first.get(parent[node[j]])
            if i is not None:
                c = last_k[j]
                stay_nb[j] = np.logaddexp(stay_nb[j], ext[i, c])
                ext[i, c] = _NEG_INF
        scores = np.concatenate([stay_b + lm_k, stay_nb + lm_k, (ext + (lm_k[:, None] + add[last_k])).ravel()])
        if len(scores) > beam:
            top = np.argpartition(-scores, beam - 1)[:beam]
        else:
            top = np.arange(len(scores))
        top = top[np.isfinite(scores[top])]
        new_node, new_blank, new_ac = [], [], []
        for s in top.tolist():
            if s < k_n:
                new_node.append(node[s]), new_blank.append(True), new_ac.append(stay_b[s])
            elif s < 2 * k_n:
                new_node.append(node[s - k_n]), new_blank.append(False), new_ac.append(stay_nb[s - k_n])
            else:
                k, c = divmod(s - 2 * k_n, n_cls)
                key = (node[k], c)
                child = children.get(key)
                if child is None:
                    child = children[key] = len(parent)
                    parent.append(node[k]), last.append(c), lm_acc.append(lm_acc[node[k]] + float(add[last_k[k], c]))
                new_node.append(child), new_blank.append(False), new_ac.append(ext[k, c])
        node, is_blank, ac = new_node, np.array(new_blank), np.array(new_ac, dtype=np.float32)
    # Sum the two states of each prefix, add the sentence end, pick the best prefix.
    mass: dict[int, float] = {}
    for n, a in zip(node, ac.tolist()):
        mass[n] = float(np.logaddexp(mass[n], a)) if n in mass else a
    end = (lambda n: lm_weight * float(lm[last[n], 0])) if use_lm else (lambda n: 0.0)
    best, best_score = max(((n, a + lm_acc[n] + end(n)) for n, a in mass.items()), key=lambda x: x[1])
    ids = []
    while best > 0:
        ids.append(last[best])
        best = parent[best]
    return ids[::-1], best_score


def beam_search_decode(log_probs: torch.Tensor, out_lens: torch.Tensor, beam: int = 16, lm: np.ndarray | None = None,
                       lm_weight: float = 0.0, insertion_bonus: float = 0.0) -> list[list[int]]:
    """Prefix beam search over a batch: (N, T', C) -> N id lists (same contract as greedy_decode)."""
    lp = log_probs.detach().float().cpu().numpy()
    return [prefix_beam_search(lp[i, :n], beam, lm, lm_weight, insertion_bonus)[0]
            for i, n in enumerate(out_lens.tolist())]


def forced_spans(log_probs, ids: list[int]) -> list[tuple[int, int]]:
    """Frame span [start, end) of each token of `ids` on the best CTC path that emits exactly `ids`.

    Viterbi forced alignment (torchaudio.functional.forced_align) of a (T, C) posterior;
    raises ValueError when T is too short for the sequence.
    """
    if not ids:
        return []
    lp = torch.as_tensor(np.asarray(log_probs.detach().cpu() if torch.is_tensor(log_probs) else log_probs),
                         dtype=torch.float32)
    if lp.shape[0] < min_frames_needed(ids):
        raise ValueError(f"{lp.shape[0]} frames cannot emit {len(ids)} tokens")
    path = forced_align(lp[None], torch.tensor([ids], dtype=torch.int32), blank=0).tolist()
    spans = []
    for t, label in enumerate(path):
        if label == 0:
            continue
        if t > 0 and path[t - 1] == label:
            spans[-1][1] = t + 1
        else:
            spans.append([t, t + 1])
    if len(spans) != len(ids):  # cannot happen for a valid alignment; guard the contract
        raise ValueError(f"alignment found {len(spans)} tokens, expected {len(ids)}")
    return [tuple(s) for s in spans]
