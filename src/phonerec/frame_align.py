"""Forced alignment on a frame classifier's posteriors (the frame head, models.common.FrameHead):
Viterbi over 10 ms input frames for a known phone sequence, left to right, every phone at least
`min_frames` frames long.

The search is a chain of states: phone i is `d` states in a row (d = min_frames), the first d - 1
passed through once each and the last with a self-loop, so a path spends >= d frames in every
phone; every state of phone i emits the frame log posterior of phone i. The DP is over T x (L*d),
vectorised over the states. When the utterance has fewer than L*d frames the minimum is lowered
(down to 1 frame per phone) rather than failing; fewer frames than phones is a ValueError.
"""
from __future__ import annotations

import numpy as np

MIN_FRAMES = 2  # 20 ms at 10 ms frames (measured against 1 and 3: recipes/timit/README.md)
METHOD = "frame_viterbi"


def viterbi_spans(frame_log_probs, ids: list[int], min_frames: int = MIN_FRAMES) -> list[tuple[int, int]]:
    """Frame span [start, end) of each token of `ids` on the best path through (T, C) frame log
    posteriors that visits the tokens in order, each for >= min_frames frames (lowered when T is
    too short for it); ValueError when T < len(ids)."""
    lp = np.asarray(frame_log_probs, dtype=np.float64)
    n_tok, n_frames = len(ids), lp.shape[0]
    if not n_tok:
        return []
    if n_frames < n_tok:
        raise ValueError(f"{n_frames} frames cannot hold {n_tok} phones")
    d = max(1, min(min_frames, n_frames // n_tok))
    emit = lp[:, np.repeat(np.asarray(ids, dtype=np.int64), d)]  # (T, S) with S = L * d
    n_states = emit.shape[1]
    loop = np.zeros(n_states, dtype=bool)
    loop[d - 1 :: d] = True  # the last state of each phone may repeat
    score = np.full(n_states, -np.inf)
    score[0] = emit[0, 0]
    advanced = np.zeros((n_frames, n_states), dtype=bool)  # came from state s - 1 (else stayed in s)
    for t in range(1, n_frames):
        stay = np.where(loop, score, -np.inf)
        move = np.concatenate(([-np.inf], score[:-1]))
        advanced[t] = move > stay  # a tie keeps the state (the later boundary)
        score = np.maximum(stay, move) + emit[t]
    if not np.isfinite(score[-1]):
        raise ValueError("no path through the phones")  # cannot happen with T >= L * d
    state, states = n_states - 1, np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        states[t] = state
        state -= int(advanced[t, state])
    phone = states // d
    starts = np.flatnonzero(np.diff(phone, prepend=-1))  # first frame of each phone
    ends = np.append(starts[1:], n_frames)
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def frame_segments(spans: list[tuple[int, int]], phones: list[str], hop_s: float,
                   duration: float) -> list[tuple[float, float, str]]:
    """Input-frame spans -> (start, end, phone) seconds tiling [0, duration]. Frame t is centred on
    t * hop_s; the first frame of a phone is the first frame whose centre lies past the boundary, so
    the boundary before span [s, e) is put at (s - 0.5) * hop_s (within half a frame of the truth
    when the frames are labelled right)."""
    if len(spans) != len(phones):
        raise ValueError(f"{len(spans)} spans for {len(phones)} phones")
    if not spans:
        return []
    inner = [min(max((s - 0.5) * hop_s, 0.0), duration) for s, _ in spans[1:]]
    bounds = [0.0] + inner + [duration]
    return [(a, b, p) for a, b, p in zip(bounds, bounds[1:], phones)]


def align_frames(frame_log_probs, ids: list[int], phones: list[str], hop_s: float, duration: float,
                 min_frames: int = MIN_FRAMES) -> list[tuple[float, float, str]]:
    """Segments of a known phone sequence from frame-head posteriors (viterbi_spans + frame_segments)."""
    return frame_segments(viterbi_spans(frame_log_probs, ids, min_frames), phones, hop_s, duration)
