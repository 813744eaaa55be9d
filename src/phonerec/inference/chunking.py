"""Long recordings in bounded memory: the network runs on pieces of at most CHUNK_FRAMES (30 s of
10 ms frames; a CRDNN's activations over a 10-minute file alone take GBs), each cut at the quietest
point of the piece's last PAUSE_WINDOW frames, so it falls in a pause. Training utterances are
seconds long, so the network never needs more context than a piece."""
from __future__ import annotations

import math

import numpy as np
import torch

CHUNK_FRAMES = 3000
PAUSE_WINDOW = 500
CONTEXT_FRAMES = 100  # each piece runs with about this much of its neighbours either side (rounded up below)


def pause_cuts(feats: torch.Tensor, multiple: int, limit: int | None = None,
               window: int | None = None) -> list[tuple[int, int]]:
    """[start, end) frame pieces of (T, F) log-mel features, each at most `limit` frames, the cut
    of each at the quietest frame (mean log-mel, smoothed over 10 frames) of its last `window`
    frames, rounded down to a multiple of `multiple` (the model's subsampling) so that the pieces'
    output frames add up to the whole input's."""
    limit, window = limit or CHUNK_FRAMES, window or PAUSE_WINDOW
    energy = torch.nn.functional.avg_pool1d(feats.float().mean(1)[None, None], 11, 1, 5, count_include_pad=False)[0, 0]
    cuts, start, n = [], 0, len(feats)
    while n - start > limit:
        lo = start + limit - window
        cut = lo + int(energy[lo:start + limit].argmin())
        cut = max(start + multiple, cut // multiple * multiple)
        cuts.append((start, cut))
        start = cut
    return cuts + [(start, n)]


def context_frames(subsampling: int) -> int:
    """CONTEXT_FRAMES rounded up to a multiple of the subsampling, so a piece's context starts on an
    output frame boundary (strides [2, 2, 2] or frame_stack 3 would otherwise shift the posteriors)."""
    return math.ceil(CONTEXT_FRAMES / subsampling) * subsampling


def long_posteriors(forward, feats: torch.Tensor, subsampling: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Posteriors of a long input, `forward(piece)` -> ((T'_piece, C) CTC, (T_piece, C) frame-head or
    None) run on one piece at a time (pause_cuts), concatenated. Each piece runs with context_frames of
    its neighbours either side, dropped after: a piece's edge is then not padding, which the network
    would read as sound."""
    sub, n, context, lps, frames = subsampling, len(feats), context_frames(subsampling), [], []
    for a, b in pause_cuts(feats, sub):
        a0, b0 = max(0, a - context), min(n, b + context)  # a, a0: multiples of sub
        lp, fr = forward(feats[a0:b0])
        lps.append(lp[(a - a0) // sub:None if b == n else (b - a0) // sub])
        frames.append(None if fr is None else fr[a - a0:b - a0])
    return np.concatenate(lps), None if frames[0] is None else np.concatenate(frames)
