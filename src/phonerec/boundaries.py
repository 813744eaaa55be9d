"""Phone boundary accuracy against TIMIT's hand labels, as the alignment literature measures it:
the share of reference boundaries within 10 / 20 / 30 ms of the system's, and the mean and
median absolute error.

Which boundaries count (BOUNDARY_RULE): both segmentations are taken to the model's phone set
(48 or 61, `phones.fold` per segment); a `q` segment (no 48/39 symbol) gives its time to the
previous segment (to the next when it is the first), so the phone after it keeps its
hand-labelled start; consecutive segments with the same label after folding (`pau h#` -> `sil
sil`, `ix q ix`) merge into one; only the internal boundaries count (between consecutive
segments, never the file start or end). A boundary is within X ms when |error| <= X ms.

- forced: the reference phones, aligned on the model's posteriors, have the same merged label
  sequence as the reference, and the k-th boundaries are paired.
- recognized: the decoded phones have other labels. They are paired with the reference by the
  minimum edit alignment used for PER (`scoring.align`); the boundary between reference
  segments i and i+1 counts when ref i is correctly recognised as hyp j and ref i+1 as hyp j+1
  (a correct pair, the next hyp segment, nothing inserted between); it is compared with the
  boundary between hyp j and j+1. The other reference boundaries are not counted.

Segments are (start, end, label) in seconds and tile the file.
"""
from __future__ import annotations

import numpy as np

from .phones import fold
from .scoring import align as edit_align

TOLERANCES_MS = (10, 20, 30)
BOUNDARY_RULE = ("internal boundaries between consecutive segments after folding to the model's phone set, "
                 "q's time given to the previous segment, consecutive identical labels merged; "
                 "recognized: only boundaries whose two reference phones are both correct in the PER edit "
                 "alignment and adjacent in the hypothesis; within X ms means |error| <= X ms")
METHOD = "ctc_viterbi"  # without a frame head; with one, frame_align.METHOD ("frame_viterbi")


def reference_segments(row: dict, sample_rate: int = 16000) -> list[tuple[float, float, str]]:
    """(start, end, phone) seconds from a manifest row's `phn` and `ground_truth_phn_ends` (samples;
    each phone starts where the previous ends, the first at 0: TIMIT's .PHN files tile the file
    from sample 0 with h#, and the manifest keeps only the ends)."""
    phones, ends = row["phn"].split(), [int(x) for x in row.get("ground_truth_phn_ends", "").split()]
    if len(phones) != len(ends):
        raise ValueError("manifest row has no usable ground_truth_phn_ends")
    starts = [0] + ends[:-1]
    return [(s / sample_rate, e / sample_rate, p) for s, e, p in zip(starts, ends, phones)]


def merge_segments(segments, target: int) -> list[tuple[float, float, str]]:
    """Segments folded to `target` phones under BOUNDARY_RULE: q (folds to nothing) joins the
    previous segment (the next when first), equal neighbours merge."""
    out: list[tuple[float, float, str]] = []
    pending = None  # start of a leading q, handed to the first real segment
    for s, e, p in segments:
        q = [] if p == "q" else fold([p], target)  # fold keeps q on 61 phones
        if not q:
            if out:
                out[-1] = (out[-1][0], e, out[-1][2])
            elif pending is None:
                pending = s
            continue
        if pending is not None:
            s, pending = pending, None
        if out and out[-1][2] == q[0]:
            out[-1] = (out[-1][0], e, q[0])
        else:
            out.append((s, e, q[0]))
    return out


def _ends(segments) -> list[float]:
    return [e for _, e, _ in segments[:-1]]


def forced_errors(ref, hyp) -> list[float]:
    """Signed errors (s) of hyp minus ref at each internal boundary; both merged, same labels."""
    if [p for *_, p in ref] != [p for *_, p in hyp]:
        raise ValueError("forced alignment has other labels than the reference")
    return [h - r for r, h in zip(_ends(ref), _ends(hyp))]


def recognized_errors(ref, hyp) -> tuple[list[float], int]:
    """(errors at the boundaries the edit alignment matched, number of reference boundaries):
    ref i|i+1 counts when ref i -> hyp j and ref i+1 -> hyp j+1 are both correct pairs."""
    matched, i, j = {}, 0, 0  # ref index -> hyp index of a correct pair
    for r, h in edit_align([p for *_, p in ref], [p for *_, p in hyp]):
        if r is not None and h is not None and r == h:
            matched[i] = j
        i += r is not None
        j += h is not None
    errors = [hyp[matched[k]][1] - ref[k][1] for k in range(len(ref) - 1)
              if k in matched and matched.get(k + 1) == matched[k] + 1]
    return errors, max(len(ref) - 1, 0)


def boundary_metric(errors_s) -> dict:
    """{within_10ms_pct, within_20ms_pct, within_30ms_pct, mean_abs_ms, median_abs_ms, n_boundaries}
    of signed boundary errors in seconds (None figures when there is no boundary)."""
    ms = np.round(np.abs(np.asarray(errors_s, dtype=float)) * 1000, 6)  # 20.0000001 ms is 20 ms
    out = {f"within_{t}ms_pct": round(float((ms <= t).mean() * 100), 2) if len(ms) else None for t in TOLERANCES_MS}
    out["mean_abs_ms"] = round(float(ms.mean()), 2) if len(ms) else None
    out["median_abs_ms"] = round(float(np.median(ms)), 2) if len(ms) else None
    out["n_boundaries"] = int(len(ms))
    return out


def align_split(posteriors: dict, manifest: dict, hyps: dict, tokenizer, n_phones: int, frame_s: float,
                frame_posteriors: dict | None = None, hop_s: float | None = None,
                min_frames: int | None = None) -> dict:
    """Segments of each utterance's reference phones (folded to the model's set, as it was trained)
    and of its decoded phones: {"method", "phone_set", "frame_s", "utts": {utt: {"forced": segs, "hyp": segs}},
    "failed": {utt: {kind: reason}}}. Too short to align is recorded, not dropped.

    With `frame_posteriors` ({utt: (T, C)} of a frame head, frames `hop_s` apart): Viterbi with a
    minimum duration on them (frame_align, METHOD frame_viterbi; "frame_s" is then hop_s); else CTC
    Viterbi on `posteriors` (output frames `frame_s` apart)."""
    from . import frame_align
    from .transcribe import align_segments  # transcribe imports decoding, which imports this lazily

    use_frames = frame_posteriors is not None
    min_frames = frame_align.MIN_FRAMES if min_frames is None else min_frames
    utts, failed = {}, {}
    for utt, lp in posteriors.items():
        row = manifest[utt]
        seqs = {"forced": fold(row["phn"].split(), n_phones), "hyp": hyps.get(utt, [])}
        utts[utt] = {}
        for kind, phones in seqs.items():
            try:
                if use_frames:
                    segs = frame_align.align_frames(frame_posteriors[utt], tokenizer.encode(phones), phones, hop_s,
                                                    row["duration"], min_frames)
                else:
                    segs = align_segments(lp, tokenizer.encode(phones), phones, frame_s, row["duration"])
            except ValueError as e:
                failed.setdefault(utt, {})[kind] = str(e)
                segs = None
            utts[utt][kind] = None if segs is None else [[round(s, 4), round(e, 4), p] for s, e, p in segs]
    out = {"method": frame_align.METHOD if use_frames else METHOD, "phone_set": n_phones,
           "frame_s": hop_s if use_frames else frame_s}
    if use_frames:
        out["min_frames"] = min_frames
    return {**out, "utts": utts, "failed": failed}


def score_alignment(segments: dict, manifest: dict, n_phones: int) -> dict:
    """alignment.json contents from align_split's output and the manifest's hand-labelled ends."""
    forced, recog, n_ref, skipped = [], [], 0, {"forced": 0, "recognized": 0}
    for utt, segs in segments["utts"].items():
        ref = merge_segments(reference_segments(manifest[utt]), n_phones)
        n_ref += max(len(ref) - 1, 0)
        if segs.get("forced") is None:
            skipped["forced"] += 1
        else:
            forced += forced_errors(ref, merge_segments(segs["forced"], n_phones))
        if segs.get("hyp") is None:
            skipped["recognized"] += 1
        else:
            recog += recognized_errors(ref, merge_segments(segs["hyp"], n_phones))[0]
    return {"forced": boundary_metric(forced), "recognized": boundary_metric(recog), "rule": BOUNDARY_RULE,
            "method": segments.get("method", METHOD), "phone_set": n_phones, "n_utterances": len(segments["utts"]),
            "n_reference_boundaries": n_ref, "unaligned_utterances": skipped}


def summary_line(split: str, a: dict) -> str:
    """One console line: forced and recognized share within 20 ms."""
    f, r = a["forced"], a["recognized"]
    pct = (lambda x: "n/a" if x is None else f"{x:.1f} %")
    bad = a.get("unaligned_utterances", {})
    extra = f" ({bad['forced']} / {bad['recognized']} utterance(s) too short to align)" if any(bad.values()) else ""
    return (f"{split} boundaries: forced {pct(f['within_20ms_pct'])} within 20 ms (mean {f['mean_abs_ms']} ms, "
            f"{f['n_boundaries']}), recognized {pct(r['within_20ms_pct'])} ({r['n_boundaries']} of "
            f"{a['n_reference_boundaries']}){extra}")
