"""Forced alignment: time-align known phones to audio with a trained model (CTC Viterbi).

  align.py --model exp/crdnn a.wav --phones a.PHN --format textgrid --out aligned/
  align.py --model exp/crdnn DR1/FCJF0/SA1.WAV DR1/FCJF0/SX37.WAV     (the .PHN beside each file)

A phones file is a TIMIT .PHN (`start end phone` lines; its times are ignored), one phone per
line, or a space-separated list; 61, 48 or 39-phone symbols, folded to the model's set (q is
dropped, as in training). The segments tile the file (see phonerec.transcribe). A file that
cannot be aligned gets a one-line error and the others are still done (exit status 1).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..checkpoint import CheckpointError
from ..config import ConfigError
from ..fileio import write_text
from ..logs import setup_logging
from ..phones import fold
from ..transcribe import FORMATS, TranscribeError, Transcriber, Transcript, _stem, format_transcript, output_path

log = logging.getLogger("align")


def read_phone_list(path, n_phones: int) -> list[str]:
    """Phones of a .PHN file (third column), or of a one-per-line / space-separated list, folded
    to the model's `n_phones` set; TranscribeError naming the file when unreadable or unknown."""
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError as e:
        raise TranscribeError(f"{path}: cannot read phones ({e.strerror or e})") from None
    is_phn = bool(lines) and all(len(c) == 3 and c[0].isdigit() and c[1].isdigit() for c in lines)
    phones = [c[2] for c in lines] if is_phn else [p for c in lines for p in c]
    try:
        folded = fold(phones, n_phones)
    except ValueError as e:
        raise TranscribeError(f"{path}: {e}") from None
    if not folded:
        raise TranscribeError(f"{path}: no phones to align")
    return folded


def align_file(tr: Transcriber, audio, phones_file) -> Transcript:
    """One audio file's Transcript with the given phones' segments (TranscribeError names the file)."""
    phones = read_phone_list(phones_file, len(tr.tokenizer.phones))
    wave = tr.load(audio)
    try:
        segments = tr.align_phones(wave, phones)
    except ValueError as e:
        raise TranscribeError(f"{audio}: cannot align {len(phones)} phones ({e})") from None
    return Transcript(str(audio), phones, len(wave) / tr.sample_rate, tr.sample_rate, segments)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="+", help="audio files")
    p.add_argument("--model", required=True, help="experiment folder holding model.pt (or the model file)")
    p.add_argument("--phones", nargs="+", help="one phones file per audio file, in the same order "
                   "(default: the .PHN / .phn beside each audio file)")
    p.add_argument("--format", choices=FORMATS, default="textgrid")
    p.add_argument("--out", help="write one file per input into this folder instead of printing")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    setup_logging(level=logging.WARNING)
    if a.phones and len(a.phones) != len(a.audio):
        p.error(f"{len(a.audio)} audio file(s) but {len(a.phones)} phones file(s): give one per audio file")
    try:
        tr = Transcriber(a.model, a.device)
    except (CheckpointError, ConfigError) as e:
        log.error("%s", e)
        return 2
    failed, taken = 0, set()
    for audio, phones_file in zip(map(Path, a.audio), a.phones or [None] * len(a.audio)):
        try:
            t = align_file(tr, audio, phones_file or _beside(audio))
        except TranscribeError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        text = format_transcript(t, a.format)
        if a.out:
            write_text(output_path(a.out, _stem(audio), a.format, taken), text)
        else:
            sys.stdout.write(text)
    if failed:
        print(f"{failed} of {len(a.audio)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _beside(audio: Path) -> Path:
    """The TIMIT label file next to an audio file (SA1.WAV -> SA1.PHN, a.wav -> a.phn)."""
    for suffix in (".PHN", ".phn"):
        if audio.with_suffix(suffix).is_file():
            return audio.with_suffix(suffix)
    return audio.with_suffix(".PHN")  # reported as unreadable
