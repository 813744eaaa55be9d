"""Segments from posteriors: where each phone of a known sequence lies in time.

Two aligners, both giving (start, end, phone) seconds that tile [0, duration] (segments.Segment):
- CTC (CTC_METHOD): Viterbi of the phones on the CTC posteriors (ctc.forced_spans). CTC output frame j is
  centred at j * subsampling * hop seconds (plus the model's centre_offset) and covers half a frame either side. CTC marks a phone
  by a spike of one or a few frames with blanks around it, so the blank frames between two phones
  are split at their midpoint and the leading / trailing blanks go to the first / last phone.
- Frame head (FRAME_METHOD, models.common.FrameHead): Viterbi over its 10 ms posteriors, left to
  right, every phone at least `min_frames` frames long. Phone i is `d` states in a row
  (d = min_frames), the first d - 1 passed through once each and the last with a self-loop, so a
  path spends >= d frames in every phone; the DP is over T x (L*d), vectorised over the states.
  When the utterance has fewer than L*d frames the minimum is lowered (down to 1 frame per phone)
  rather than failing; fewer frames than phones is a ValueError. A token can be made optional (a
  pause between words, for labels of a corpus without times: experiment.relabel): skipped, or
  at least PAUSE_FRAMES frames.
`align_split` runs one of them over a whole decoded split (decode writes its segments.json).
"""
from __future__ import annotations

import numpy as np

from phonerec.decoding.ctc import forced_spans
from phonerec.phones import fold

MIN_FRAMES = 2  # 20 ms at 10 ms frames (measured against 1 and 3: recipes/timit/README.md)
PAUSE_FRAMES = 10  # an optional pause between words lasts 100 ms at least (shorter gaps are closures or transitions)
FRAME_METHOD = "frame_viterbi"  # with a frame head
CTC_METHOD = "ctc_viterbi"  # without one


def viterbi_spans(frame_log_probs, ids: list[int], min_frames: int = MIN_FRAMES,
                  block: int | None = None, optional=(), optional_min_frames: int = PAUSE_FRAMES
                  ) -> list[tuple[int, int]]:
    """Frame span [start, end) of each token of `ids` on the best path through (T, C) frame log
    posteriors that visits the tokens in order, each for >= min_frames frames (lowered when T is
    too short for it); ValueError when T is under the number of tokens that cannot be skipped.

    `optional`: positions in `ids` the path may skip (a pause between two words, which HMM aligners
    such as Kaldi's and MFA's make optional): such a token gets no frames, its span (s, s) empty at
    the start of the next token, or >= max(min_frames, optional_min_frames) frames. Never the first
    or the last token, and never two in a row.

    Memory is bounded for hour-long files: emissions are gathered one frame at a time, and the
    backpointers are kept for one block of `block` frames (default ~sqrt(T)) at a time: the forward
    pass stores the scores at each block start, the backtrack recomputes each block's backpointers
    from them, last block first. O(T/block + block) state vectors instead of a (T, S) matrix, for
    twice the forward work; the path is the one a full (T, S) backpointer gives."""
    lp = np.asarray(frame_log_probs, dtype=np.float64)
    n_tok, n_frames = len(ids), lp.shape[0]
    if not n_tok:
        return []
    optional = sorted(set(optional))
    if optional and (optional[0] < 1 or optional[-1] > n_tok - 2 or np.any(np.diff(optional) == 1)):
        raise ValueError(f"optional tokens {optional} must lie inside the {n_tok} tokens, never two in a row")
    n_needed = n_tok - len(optional)
    if n_frames < n_needed:
        raise ValueError(f"{n_frames} frames cannot hold {n_needed} phones")
    d = max(1, min(min_frames, n_frames // n_needed))
    is_optional = np.zeros(n_tok, dtype=bool)
    is_optional[optional] = True
    width = np.where(is_optional, max(d, optional_min_frames), d)  # states of each token
    token = np.repeat(np.arange(n_tok), width)  # state -> its token
    cols = np.asarray(ids, dtype=np.int64)[token]  # state s emits phone ids[token[s]]
    n_states = len(cols)
    last = np.cumsum(width) - 1  # the last state of each token, the one that may repeat
    loop = np.zeros(n_states, dtype=bool)
    loop[last] = True
    skip_to = last[np.asarray(optional, dtype=np.int64)] + 1  # first state of the token after an optional one ...
    skip_from = skip_to - width[optional] - 1  # ... may follow the last state of the token before it
    block = block or max(64, int(np.sqrt(n_frames)))

    def step(score, t):
        """(scores after frame t, how each state was entered: 0 stayed, 1 from s - 1, 2 over an
        optional token) from the scores after frame t - 1. A tie keeps the state (the later boundary),
        and between entering from s - 1 and skipping, enters from s - 1."""
        stay = np.where(loop, score, -np.inf)
        move = np.concatenate(([-np.inf], score[:-1]))
        best, how = np.maximum(stay, move), (move > stay).astype(np.int8)
        if len(skip_to):
            skip = score[skip_from]
            over = skip > best[skip_to]
            best[skip_to[over]], how[skip_to[over]] = skip[over], 2
        return best + lp[t, cols], how

    back = np.arange(n_states) - 1  # the state before s when it was entered from s - 1 (how 1) ...
    jump = back.copy()
    jump[skip_to] = skip_from  # ... or over an optional token (how 2)
    score = np.full(n_states, -np.inf)
    score[0] = lp[0, cols[0]]
    starts = {}  # frame -> scores after it, at every block start
    for t in range(1, n_frames):
        if (t - 1) % block == 0:
            starts[t - 1] = score
        score = step(score, t)[0]
    if not np.isfinite(score[-1]):
        raise ValueError("no path through the phones")  # cannot happen with T >= L * d
    state, states = n_states - 1, np.empty(n_frames, dtype=np.int64)
    for first in sorted(starts, reverse=True):  # frames first + 1 .. last of this block
        end = min(first + block, n_frames - 1)
        how, score = np.zeros((end - first, n_states), dtype=np.int8), starts[first]
        for t in range(first + 1, end + 1):
            score, how[t - first - 1] = step(score, t)
        for t in range(end, first, -1):
            states[t] = state
            entered = how[t - first - 1, state]
            state = state if entered == 0 else back[state] if entered == 1 else jump[state]
    states[0] = state
    path = token[states]  # the token of each frame, non-decreasing
    tokens = np.arange(n_tok)
    return list(zip(np.searchsorted(path, tokens, "left").tolist(), np.searchsorted(path, tokens, "right").tolist()))


def frame_head_segments(spans: list[tuple[int, int]], phones: list[str], hop_s: float,
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
    """Segments of a known phone sequence from frame-head posteriors (viterbi_spans + frame_head_segments)."""
    return frame_head_segments(viterbi_spans(frame_log_probs, ids, min_frames), phones, hop_s, duration)


def ctc_segments(spans: list[tuple[int, int]], phones: list[str], frame_s: float,
                 duration: float, centre_s: float = 0.0) -> list[tuple[float, float, str]]:
    """Output-frame spans [start, end) per phone -> (start, end, phone) seconds.

    Frame j is centred at j * frame_s + centre_s (centre_s: the model's centre_offset in seconds, e.g.
    half a stack of frames minus one hop for frame stacking) and covers half a frame either side; blank
    frames between two phones go half to each; the first phone starts at 0 and the last ends at
    `duration`."""
    if len(spans) != len(phones):
        raise ValueError(f"{len(spans)} spans for {len(phones)} phones")
    if not spans:
        return []
    inner = [((end + start) / 2 - 0.5) * frame_s + centre_s for (_, end), (start, _) in zip(spans, spans[1:])]
    bounds = [0.0] + [min(max(b, 0.0), duration) for b in inner] + [duration]
    return [(s, e, p) for s, e, p in zip(bounds, bounds[1:], phones)]


def align_ctc(log_probs: np.ndarray, ids: list[int], phones: list[str], frame_s: float,
              duration: float, centre_s: float = 0.0) -> list[tuple[float, float, str]]:
    """CTC Viterbi alignment of a given phone sequence on (T', C) posteriors -> segments tiling
    [0, duration] (ctc_segments); ValueError when there are too few frames for it."""
    return ctc_segments(forced_spans(log_probs, ids), phones, frame_s, duration, centre_s)


def place_phones(lp, frames, ids: list[int], phones: list[str], frame_s: float, hop_s: float | None,
                 duration: float, *, min_frames: int = MIN_FRAMES, optional=(), centre_s: float = 0.0
                 ) -> tuple[list[tuple[float, float, str]], list[tuple[int, int]], bool]:
    """Where a known phone sequence lies in time: the one choice between the two aligners, for
    transcription, forced alignment, decoding and relabelling alike. Viterbi on the frame head's (T, C)
    posteriors `frames` (frames `hop_s` apart) when given, else CTC Viterbi on the (T', C) `lp` (frames
    `frame_s` apart, the first centred at `centre_s`). `optional`: positions the frame-head path may skip
    (viterbi_spans); CTC has no optional tokens (ValueError). Returns (segments tiling [0, duration],
    the frame spans, whether they are frame-head frames)."""
    if frames is not None:
        spans = viterbi_spans(frames, ids, min_frames, optional=optional)
        return frame_head_segments(spans, phones, hop_s, duration), spans, True
    if len(optional):
        raise ValueError("optional phones need a frame head")
    spans = forced_spans(lp, ids)
    return ctc_segments(spans, phones, frame_s, duration, centre_s), spans, False


def align_split(posteriors: dict, manifest: dict, hyps: dict, tokenizer, n_phones: int, frame_s: float,
                frame_posteriors: dict | None = None, hop_s: float | None = None,
                min_frames: int | None = None, centre_s: float = 0.0) -> dict:
    """Segments of each utterance's reference phones (folded to the model's set, as it was trained)
    and of its decoded phones: {"method", "phone_set", "frame_s", "utts": {utt: {"forced": segs, "hyp": segs}},
    "failed": {utt: {kind: reason}}}. Too short to align is recorded, not dropped.

    With `frame_posteriors` ({utt: (T, C)} of a frame head, frames `hop_s` apart): Viterbi with a
    minimum duration on them (align_frames, FRAME_METHOD; "frame_s" is then hop_s); else CTC
    Viterbi on `posteriors` (output frames `frame_s` apart)."""
    use_frames = frame_posteriors is not None
    min_frames = MIN_FRAMES if min_frames is None else min_frames
    utts, failed = {}, {}
    for utt, lp in posteriors.items():
        row = manifest[utt]
        seqs = {"forced": fold(row["phn"].split(), n_phones), "hyp": hyps.get(utt, [])}
        utts[utt] = {}
        for kind, phones in seqs.items():
            try:
                segs = place_phones(lp, frame_posteriors[utt] if use_frames else None, tokenizer.align_ids(phones),
                                    phones, frame_s, hop_s, row["duration"], min_frames=min_frames,
                                    centre_s=centre_s)[0]
            except ValueError as e:
                failed.setdefault(utt, {})[kind] = str(e)
                segs = None
            utts[utt][kind] = None if segs is None else [[round(s, 4), round(e, 4), p] for s, e, p in segs]
    out = {"method": FRAME_METHOD if use_frames else CTC_METHOD, "phone_set": n_phones,
           "frame_s": hop_s if use_frames else frame_s}
    if use_frames:
        out["min_frames"] = min_frames
    return {**out, "utts": utts, "failed": failed}
