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

from phonerec.evaluation.per import edit_alignment
from phonerec.segments import merge_segments, reference_segments

TOLERANCES_MS = (10, 20, 30)
BOUNDARY_RULE = ("internal boundaries between consecutive segments after folding to the model's phone set, "
                 "q's time given to the previous segment, consecutive identical labels merged; "
                 "recognized: only boundaries whose two reference phones are both correct in the PER edit "
                 "alignment and adjacent in the hypothesis; within X ms means |error| <= X ms")


def _ends(segments) -> list[float]:
    return [e for _, e, _ in segments[:-1]]


def forced_errors(ref, hyp) -> list[float]:
    """Signed errors (s) of hyp minus ref at each internal boundary; both merged, same labels."""
    if [p for *_, p in ref] != [p for *_, p in hyp]:
        raise ValueError("forced alignment has other labels than the reference")
    return [h - r for r, h in zip(_ends(ref), _ends(hyp))]


def forced_row_errors(row: dict, segments, n_phones: int) -> list[float]:
    """forced_errors of a forced alignment's 61-phone segments against a manifest row's true times,
    both folded to `n_phones` by the shared rule (segments.merge_segments)."""
    return forced_errors(merge_segments(reference_segments(row), n_phones), merge_segments(segments, n_phones))


def recognized_errors(ref, hyp) -> tuple[list[float], int]:
    """(errors at the boundaries the edit alignment matched, number of reference boundaries):
    ref i|i+1 counts when ref i -> hyp j and ref i+1 -> hyp j+1 are both correct pairs."""
    matched, i, j = {}, 0, 0  # ref index -> hyp index of a correct pair
    for r, h in edit_alignment([p for *_, p in ref], [p for *_, p in hyp]):
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


def score_alignment(segments: dict, manifest: dict, n_phones: int) -> dict:
    """alignment.json contents from align_split's output and the manifest's hand-labelled ends."""
    forced, recog, n_ref, skipped = [], [], 0, {"forced": 0, "recognized": 0}
    for utt, segs in segments["utts"].items():
        ref = merge_segments(reference_segments(manifest[utt]), n_phones)
        n_ref += max(len(ref) - 1, 0)
        if segs.get("forced") is None:
            skipped["forced"] += 1
        else:
            forced += forced_row_errors(manifest[utt], segs["forced"], n_phones)
        if segs.get("hyp") is None:
            skipped["recognized"] += 1
        else:
            recog += recognized_errors(ref, merge_segments(segs["hyp"], n_phones))[0]
    return {"forced": boundary_metric(forced), "recognized": boundary_metric(recog), "rule": BOUNDARY_RULE,
            "method": segments.get("method"), "phone_set": n_phones, "n_utterances": len(segments["utts"]),
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
