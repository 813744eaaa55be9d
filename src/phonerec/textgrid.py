"""Praat TextGrid (long text format) and TIMIT .phn writers, and a TextGrid reader.

Transcriptions are written in the formats the tools people already use open: Praat for
TextGrid, and TIMIT-style `.phn` (start/end in samples at 16 kHz) for anything that reads
TIMIT labels. Segments are (start, end, label) with times in seconds.
"""
from __future__ import annotations

import re
from pathlib import Path

Segment = tuple[float, float, str]


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def format_textgrid(tiers: dict[str, list[Segment]], xmax: float, xmin: float = 0.0) -> str:
    """IntervalTiers covering [xmin, xmax]; gaps between segments become empty intervals,
    as Praat requires every tier to tile the whole time range."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", f"xmin = {_num(xmin)}",
             f"xmax = {_num(xmax)}", "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for k, (name, segments) in enumerate(tiers.items(), 1):
        intervals, t = [], xmin
        for start, end, label in segments:
            if start < t - 1e-9 or end <= start or end > xmax + 1e-9:
                raise ValueError(f"tier {name!r}: segment ({start}, {end}, {label!r}) overlaps, is empty "
                                 f"or lies outside [{xmin}, {xmax}]")
            if start > t:
                intervals.append((t, start, ""))
            intervals.append((start, min(end, xmax), label))
            t = min(end, xmax)
        if t < xmax or not intervals:
            intervals.append((t, xmax, ""))
        lines += [f"    item [{k}]:", '        class = "IntervalTier"', f"        name = {_q(name)}",
                  f"        xmin = {_num(xmin)}", f"        xmax = {_num(xmax)}",
                  f"        intervals: size = {len(intervals)}"]
        for i, (s, e, label) in enumerate(intervals, 1):
            lines += [f"        intervals [{i}]:", f"            xmin = {_num(s)}", f"            xmax = {_num(e)}",
                      f"            text = {_q(label)}"]
    return "\n".join(lines) + "\n"


_FIELD = re.compile(r'^\s*(xmin|xmax|text|name|class)\s*=\s*(.*?)\s*$')


def parse_textgrid(text: str, keep_empty: bool = False) -> dict[str, list[Segment]]:
    """Tiers of a long-format TextGrid as {name: [(start, end, label)]}; empty intervals dropped
    unless `keep_empty`."""
    tiers: dict[str, list[Segment]] = {}
    tier, interval = None, None
    for line in text.splitlines():
        if re.match(r"^\s*item\s*\[\d+\]\s*:", line):
            tier, interval = None, None
            continue
        if re.match(r"^\s*(intervals|points)\s*\[\d+\]\s*:", line):
            interval = {}
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        key, raw = m.groups()
        value = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw
        if key == "name" and interval is None:
            tier = tiers.setdefault(value, [])
        elif interval is not None and tier is not None:
            interval[key] = value
            if key == "text":
                start, end = float(interval["xmin"]), float(interval["xmax"])
                if value or keep_empty:
                    tier.append((start, end, value))
                interval = None
    return tiers


def read_textgrid(path, keep_empty: bool = False) -> dict[str, list[Segment]]:
    return parse_textgrid(Path(path).read_text(encoding="utf-8"), keep_empty)


def format_phn(segments: list[Segment], sample_rate: int = 16000) -> str:
    """TIMIT `.phn`: `start end phone` per line in samples (integers, strictly increasing)."""
    lines = []
    for start, end, label in segments:
        s, e = int(round(start * sample_rate)), int(round(end * sample_rate))
        if e <= s:
            raise ValueError(f"segment ({start}, {end}, {label!r}) is shorter than one sample")
        lines.append(f"{s} {e} {label}")
    return "\n".join(lines) + ("\n" if lines else "")
