"""Phone error rate on the 39-phone folded set (jiwer alignment), summary and per-utterance files,
and the sclite-style analysis behind it: per speaker, per phone, confusion pairs.

PER = (S + D + I) / N, N the number of folded reference phones, silence scored as a
label and consecutive `sil` merged (the published TIMIT convention). The corpus score and
the analysis come from the same alignment, so their counts always agree.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jiwer

from .fileio import write_json, write_text
from .phones import PHONES_39, fold


@dataclass
class Score:
    per: float  # percent
    sub: int
    dels: int
    ins: int
    n_ref: int
    n_utts: int

    def as_dict(self) -> dict:
        d = asdict(self)
        d["del"] = d.pop("dels")
        return {k: d[k] for k in ("per", "sub", "del", "ins", "n_ref", "n_utts")}


def align(ref: list[str], hyp: list[str]) -> list[tuple[str | None, str | None]]:
    """Minimum edit alignment (jiwer's) as (ref, hyp) pairs in order; None marks a deletion's
    hyp side or an insertion's ref side."""
    if not ref or not hyp:
        return [(r, None) for r in ref] + [(None, h) for h in hyp]
    pairs: list[tuple[str | None, str | None]] = []
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        r, h = ref[chunk.ref_start_idx:chunk.ref_end_idx], hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "insert":
            pairs += [(None, x) for x in h]
        elif chunk.type == "delete":
            pairs += [(x, None) for x in r]
        else:  # equal / substitute: same length on both sides
            pairs += list(zip(r, h))
    return pairs


def _counts(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """(sub, del, ins) of the minimum edit alignment of two phone lists."""
    pairs = align(ref, hyp)
    return (sum(1 for r, h in pairs if r is not None and h is not None and r != h),
            sum(1 for _, h in pairs if h is None), sum(1 for r, _ in pairs if r is None))


def score(refs: dict[str, list[str]], hyps: dict[str, list[str]]) -> tuple[Score, list[tuple]]:
    """Score hypotheses against references (both any TIMIT phone set; folded to 39 here).

    Returns the corpus Score and per-utterance rows (utt_id, per, sub, del, ins, n_ref).
    Every reference utterance must have a hypothesis (missing ones would flatter the PER).
    """
    missing = sorted(set(refs) - set(hyps))
    if missing:
        raise ValueError(f"{len(missing)} utterance(s) have no hypothesis, e.g. {missing[:3]}")
    totals = [0, 0, 0, 0]
    rows = []
    for utt_id in sorted(refs):
        r, h = fold(refs[utt_id], 39), fold(hyps[utt_id], 39)
        s, d, i = _counts(r, h)
        totals = [totals[0] + s, totals[1] + d, totals[2] + i, totals[3] + len(r)]
        rows.append((utt_id, 100.0 * (s + d + i) / max(len(r), 1), s, d, i, len(r)))
    s, d, i, n = totals
    return Score(round(100.0 * (s + d + i) / max(n, 1), 2), s, d, i, n, len(rows)), rows


def read_hyp_file(path) -> dict[str, list[str]]:
    """`utt_id phone phone ...` per line -> {utt_id: phones}."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            utt_id, *phones = line.split()
            out[utt_id] = phones
    return out


def write_hyp_file(path, hyps: dict[str, list[str]]) -> None:
    write_text(path, "".join(f"{u} {' '.join(p)}\n" for u, p in sorted(hyps.items())))


def write_score(decode_dir, result: Score, rows: list[tuple]) -> None:
    """Write per.json and per_utt.txt into a decode directory."""
    decode_dir = Path(decode_dir)
    write_json(decode_dir / "per.json", result.as_dict())
    lines = ["# utt_id per sub del ins n_ref\n"] + [f"{u} {p:.2f} {s} {d} {i} {n}\n" for u, p, s, d, i, n in rows]
    write_text(decode_dir / "per_utt.txt", "".join(lines))
