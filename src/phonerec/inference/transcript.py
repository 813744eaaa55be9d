"""What recognition or alignment gives back for one recording, and its output formats (text, JSON,
TIMIT .phn, Praat TextGrid): the same object for the command, the API and the page."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from phonerec.textgrid import format_phn, format_textgrid

FORMATS = ("text", "json", "phn", "textgrid")


@dataclass
class Transcript:
    path: str
    phones: list[str]
    duration: float  # seconds
    sample_rate: int
    segments: list[tuple[float, float, str]] | None = None  # (start, end, phone) in seconds
    confidence: list[float] = field(default_factory=list)  # per phone: max posterior over its frames
    words: list[tuple[float, float, str]] | None = None  # (start, end, word) in seconds (forced alignment)
    # what will make it decode badly, one sentence each ("a.wav is clipped (...)": inference.recording); the
    # same lines are logged, but a caller (the page) should not have to listen to a logger to learn them
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """{file, duration, phones[, segments: [{phone, start, end, confidence}]][, words: [{word, start,
        end}]], warnings} (JSON-ready)."""
        d = {"file": self.path, "duration": round(self.duration, 4), "phones": self.phones}
        if self.segments is not None:
            d["segments"] = [{"phone": p, "start": round(s, 4), "end": round(e, 4), "confidence": c}
                             for (s, e, p), c in zip(self.segments, self.confidence or [None] * len(self.segments))]
        if self.words is not None:
            d["words"] = [{"word": w, "start": round(s, 4), "end": round(e, 4)} for s, e, w in self.words]
        d["warnings"] = list(self.warnings)
        return d

    def to_textgrid(self) -> str:
        """Praat TextGrid with a `phones` tier, under a `words` tier when words are known (needs timestamps)."""
        phones = self._needs_segments("textgrid")
        tiers = {"phones": phones} if self.words is None else {"words": self.words, "phones": phones}
        return format_textgrid(tiers, self.duration)

    def to_phn(self) -> str:
        """TIMIT .phn lines (start and end in 16 kHz samples; needs timestamps)."""
        return format_phn(self._needs_segments("phn"), 16000)

    def _needs_segments(self, fmt: str) -> list:
        if self.segments is None:
            raise ValueError(f"format {fmt!r} needs timestamps")
        return self.segments


def format_transcript(t: Transcript, fmt: str) -> str:
    """Render one transcript: text (`path: phones`, or a `start end phone` line per phone with
    timestamps), json, phn (TIMIT sample units) or textgrid (Praat). phn/textgrid need segments."""
    if fmt == "text":
        if t.segments is None:
            return f"{t.path}: {' '.join(t.phones)}\n"
        return f"{t.path}:\n" + "".join(f"{s:8.3f} {e:8.3f}  {p}\n" for s, e, p in t.segments)
    if fmt == "json":
        return json.dumps(t.to_dict()) + "\n"
    if fmt == "phn":
        return t.to_phn()
    if fmt == "textgrid":
        return t.to_textgrid()
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
