"""Segments: `(start, end, label)` tuples in seconds that tile a file, as a TIMIT .PHN file does.

The ground-floor helpers every layer shares: the hand-labelled segments of a manifest row, and
the folding rule that the frame labels of training, the boundary metric and the report all use
(SEGMENT_RULE), so a boundary means the same thing wherever it is counted.
"""
from __future__ import annotations

from phonerec.phones import fold

Segment = tuple[float, float, str]
SEGMENT_RULE = ("segments folded to the model's phone set, q's time given to the previous segment (to the next "
                "when it is the first), consecutive identical labels merged")


def reference_segments(row: dict, sample_rate: int = 16000) -> list[Segment]:
    """(start, end, phone) seconds from a manifest row's `phn` and `ground_truth_phn_ends` (samples;
    each phone starts where the previous ends, the first at 0: TIMIT's .PHN files tile the file
    from sample 0 with h#, and the manifest keeps only the ends)."""
    phones, ends = row["phn"].split(), [int(x) for x in row.get("ground_truth_phn_ends", "").split()]
    if len(phones) != len(ends):
        raise ValueError("manifest row has no usable ground_truth_phn_ends")
    starts = [0] + ends[:-1]
    return [(s / sample_rate, e / sample_rate, p) for s, e, p in zip(starts, ends, phones)]


def merge_segments(segments, target: int) -> list[Segment]:
    """Segments folded to `target` phones under SEGMENT_RULE: q (folds to nothing) joins the
    previous segment (the next when first), equal neighbours merge. Works on any time unit."""
    out: list = []
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
