"""Phone error rate on the 39-phone folded set (jiwer alignment), summary and per-utterance files.

PER = (S + D + I) / N, N the number of folded reference phones, silence scored as a
label and consecutive `sil` merged (the published TIMIT convention).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import jiwer

from .fileio import write_json, write_text
from .phones import fold


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


def _counts(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """(sub, del, ins) of the minimum edit alignment of two phone lists."""
    if not ref:
        return 0, 0, len(hyp)
    if not hyp:
        return 0, len(ref), 0
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.substitutions, out.deletions, out.insertions


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
