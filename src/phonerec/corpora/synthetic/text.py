"""Synthetic TIMIT, part 1: what is said. The lexicon and sentence templates, TIMIT's labelling
conventions (closures, flaps, glottal stops, reduced vowels, pauses), and the corpus plan
(speakers, SA/SX/SI prompts). Everything is a function of the seed (see the package docstring)."""
from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# Column 1 of resources/phones.60-48-39.map, in its order (embedded so this module
# stands alone; tests check the two agree).
PHONES_61: tuple[str, ...] = tuple(
    "aa ae ah ao aw ax ax-h axr ay b bcl ch d dcl dh dx eh el em en eng epi er ey f g gcl "
    "h# hh hv ih ix iy jh k kcl l m n ng nx ow oy p pau pcl q r s sh t tcl th uh uw ux v w "
    "y z zh".split()
)

# The standard TIMIT core test set (24 speakers, 3 per dialect region, DR1 first) and
# the 50-speaker dev set, as in recipes/timit/conf/*.list.
CORE_TEST_SPEAKERS: tuple[str, ...] = tuple(
    "mdab0 mwbt0 felc0 mtas1 mwew0 fpas0 mjmp0 mlnt0 fpkt0 mlll0 mtls0 fjlm0 "
    "mbpm0 mklt0 fnlp0 mcmj0 mjdh0 fmgd0 mgrt0 mnjm0 fdhc0 mjln0 mpam0 fmld0".split()
)
DEV_SPEAKERS: tuple[str, ...] = tuple(
    "faks0 fdac1 fjem0 mgwt0 mjar0 mmdb1 mmdm2 mpdf0 fcmh0 fkms0 mbdg0 mbwm0 mcsh0 "
    "fadg0 fdms0 fedw0 mgjf0 mglb0 mrtk0 mtaa0 mtdt0 mthc0 mwjg0 fnmr0 frew0 fsem0 "
    "mbns0 mmjr0 mdls0 mdlf0 mdvc0 mers0 fmah0 fdrw0 mrcs0 mrjm4 fcal1 mmwh0 fjsj0 "
    "majc0 mjsw0 mreb0 fgjd0 fjmg0 mroa0 mteb0 mjfc0 mrjr0 fmml0 mrws1".split()
)

SA_TEXTS = {
    "SA1": "She had your dark suit in greasy wash water all year.",
    "SA2": "Don't ask me to carry an oily rag like that.",
}
N_DIALECTS = 8
SX_PER_SPEAKER, SI_PER_SPEAKER = 5, 3
SX_FIRST, SX_BLOCK = 3, 90  # a TIMIT speaker reads SX b, b+90, ..., b+360 (b in 3..92)
SI_FIRST, SI_LAST = 453, 2342
SPEAKERS_PER_SX = 4  # speakers sharing one SX block (7 on the real corpus)


# ---------------------------------------------------------------------------------
# Lexicon and sentences
# ---------------------------------------------------------------------------------

# The lexicon (word, part of speech, base pronunciations) is a resource file:
# resources/synth_lexicon.txt. Its base forms write a stop as its release only (closures,
# flaps, glottal stops are added by `pronounce`).

_TEMPLATES = (
    "PRON VT DET ADJ N PREP DET N",
    "DET ADJ N VT DET N",
    "PRON ADV VT DET ADJ N",
    "DET N VI PREP DET ADJ N",
    "DONT VB DET ADJ N",
    "PRON VT OBJ DET N",
    "DET N PREP DET N VI ADV",
    "PRON WILL VB DET N PREP DET N",
    "PRON VI PREP DET N ADV",
    "DET ADJ N VT DET ADJ N",
    "ask OBJ TO VB DET ADJ N",
    "PRON VT DET N TO PLACE",
    "DET N from PLACE VT DET N",
    "PRON VI in PLACE ADV",
    "PRON VT something PREP DET N",
)


def _parse_lexicon(text: str) -> tuple[dict[str, tuple[tuple[str, ...], ...]], dict[str, tuple[str, ...]]]:
    lexicon, by_pos = {}, {}
    for line in text.strip().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, pos, prons = line.split(" ", 2)
        lexicon[word] = tuple(tuple(p.split()) for p in prons.split("|"))
        by_pos.setdefault(pos, []).append(word)
    return lexicon, {pos: tuple(words) for pos, words in by_pos.items()}


LEXICON, _WORDS_BY_POS = _parse_lexicon(resources.files("phonerec").joinpath("resources/synth_lexicon.txt").read_text())


def make_sentence(rng: np.random.Generator) -> str:
    """A random sentence from the template grammar, written like a TIMIT .TXT prompt."""
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))].split()
    words = [tok if tok.islower() else str(rng.choice(_WORDS_BY_POS[tok])) for tok in template]
    for i in range(len(words) - 1):
        if words[i] == "a" and LEXICON[words[i + 1]][0][0] in VOWELS:
            words[i] = "an"
    text = " ".join("I" if w == "i" else w for w in words)
    return text[0].upper() + text[1:] + "."


def sentence_words(text: str) -> list[str]:
    """The words of a prompt as they appear in .WRD files (lower case, no punctuation)."""
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


# ---------------------------------------------------------------------------------
# Pronunciation: words -> 61-phone sequence with TIMIT labelling conventions
# ---------------------------------------------------------------------------------

# Closure of each stop release and affricate, as in TIMIT's labels: the one map of the package (lexicon,
# speechocean762 and experiment.closures read CLOSURE_OF).
STOP_CLOSURES = {"b": "bcl", "d": "dcl", "g": "gcl", "p": "pcl", "t": "tcl", "k": "kcl"}
AFFRICATE_CLOSURES = {"ch": "tcl", "jh": "dcl"}
CLOSURE_OF = {**STOP_CLOSURES, **AFFRICATE_CLOSURES}  # the closure before each stop and affricate
VOWELS = set("iy ih eh ey ae aa aw ay ah ao oy ow uh uw ux er ax ix axr ax-h".split())
VOCALIC = VOWELS | {"el", "em", "en", "eng"}
_UNSTRESSED = {"ax", "ix", "axr", "el", "en", "em", "iy", "er", "ow"}
_VOICELESS = set("p t k f th s sh ch hh".split())
_CORONAL = set("t d s z n sh ch jh y".split())
_SIBILANT_FRIC = set("s sh z f th".split())
_SONORANT_CONS = set("m n w l r y".split())

P_PAUSE = 0.07  # per word boundary


def pronounce(words: Sequence[str], rng: np.random.Generator) -> list[tuple[str, int | None]]:
    """Phones of a word sequence, each with the index of its word (None for h#/pau/epi).

    Base pronunciations get TIMIT's surface processes at random, so the same sentence
    is labelled differently by different speakers as on the real corpus.
    """
    seq: list[list] = []  # [phone, word index]
    for wi, word in enumerate(words):
        variants = LEXICON[word]
        if wi > 0 and rng.random() < P_PAUSE:
            seq.append(["pau", None])
        seq.extend([ph, wi] for ph in variants[rng.integers(len(variants))])
    _substitute(seq, rng)
    seq = _insert_q_epi(seq, rng)
    seq = _expand_stops(seq, rng)
    return [("h#", None), *((p, w) for p, w in seq), ("h#", None)]


def _substitute(seq: list[list], rng: np.random.Generator) -> None:
    """Flaps, glottal stops, nx, ux, hv, ax-h, d+y palatalisation (in place)."""
    n = len(seq)
    for i, item in enumerate(seq):
        ph, w = item
        prev = seq[i - 1] if i > 0 else None
        nxt = seq[i + 1] if i + 1 < n else None
        p_ph = prev[0] if prev else None
        n_ph = nxt[0] if nxt else None
        across = nxt is not None and nxt[1] is not None and nxt[1] != w  # next phone starts a word
        word_final = nxt is None or nxt[1] != w
        r = rng.random()
        if ph == "uw" and p_ph in _CORONAL and r < 0.75:
            item[0] = "ux"
        elif ph == "t" and n_ph == "en" and not across and r < 0.6:
            item[0] = "q"  # button: b ah q en
        elif ph in ("t", "d") and (p_ph in VOCALIC or p_ph == "r") and n_ph in VOCALIC:
            if (not across and n_ph in _UNSTRESSED and r < 0.7) or (across and r < 0.45):
                item[0] = "dx"
            elif ph == "t" and across and r < 0.7:
                item[0] = "q"  # suit in: s ux q en
        elif ph == "t" and word_final and p_ph in VOCALIC and n_ph not in STOP_CLOSURES and r < 0.25:
            item[0] = "q"  # that.: dh ae q
        elif ph == "d" and across and n_ph == "y" and r < 0.35:
            item[0] = "jh"  # had your: hv ae dcl jh er
            nxt[0] = None
        elif ph == "n" and p_ph in VOCALIC and n_ph in VOCALIC and (across or n_ph in _UNSTRESSED) and r < 0.5:
            item[0] = "nx"
        elif ph == "hh" and prev is not None and p_ph != "pau" and p_ph not in _VOICELESS and r < 0.8:
            item[0] = "hv"  # voiced h between voiced sounds
        elif ph == "ax" and p_ph in _VOICELESS and r < (0.6 if (n_ph in _VOICELESS or n_ph in STOP_CLOSURES) else 0.2):
            item[0] = "ax-h"
    seq[:] = [item for item in seq if item[0] is not None]


def _insert_q_epi(seq: list[list], rng: np.random.Generator) -> list[list]:
    """Glottal onsets of vowel-initial words and epenthetic silence after fricatives."""
    out: list[list] = []
    for i, (ph, w) in enumerate(seq):
        prev = seq[i - 1] if i > 0 else None
        word_initial = w is not None and (prev is None or prev[1] != w)
        if word_initial and ph in VOWELS:
            after_break = prev is None or prev[0] == "pau"
            if rng.random() < (0.5 if after_break else 0.35 if prev[0] in VOCALIC else 0.1):
                out.append(["q", w])
        if prev is not None and prev[0] in _SIBILANT_FRIC and ph in _SONORANT_CONS and rng.random() < 0.4:
            out.append(["epi", w if prev[1] == w else None])
        out.append([ph, w])
    return out


def _expand_stops(seq: list[list], rng: np.random.Generator) -> list[list]:
    """Every stop release gets its closure; some releases are dropped (unreleased stops)."""
    out: list[list] = []
    n = len(seq)
    for i, (ph, w) in enumerate(seq):
        if ph in AFFRICATE_CLOSURES:
            out += [[AFFRICATE_CLOSURES[ph], w], [ph, w]]
        elif ph in STOP_CLOSURES:
            n_ph = seq[i + 1][0] if i + 1 < n else None
            word_final = i + 1 == n or seq[i + 1][1] != w
            if n_ph in STOP_CLOSURES or n_ph in AFFRICATE_CLOSURES:
                p_drop = 0.5
            elif n_ph is None or n_ph == "pau":
                p_drop = 0.3
            elif word_final and n_ph not in VOCALIC:
                p_drop = 0.3
            else:
                p_drop = 0.0
            out.append([STOP_CLOSURES[ph], w])
            if rng.random() >= p_drop:
                out.append([ph, w])
        else:
            out.append([ph, w])
    return out


# ---------------------------------------------------------------------------------
# Corpus plan: speakers, utterance ids, texts
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    uid: str  # "SA1", "SX127", "SI1027"
    text: str  # the prompt as written in .TXT


@dataclass(frozen=True)
class Speaker:
    name: str  # "FCJF0": gender letter, three initials, a digit
    split: str  # "TRAIN" or "TEST"
    dialect: int  # 1..8
    utterances: tuple[Utterance, ...]

    @property
    def gender(self) -> str:
        return self.name[0]


def keyed_rng(seed: int, *keys) -> np.random.Generator:
    """A generator keyed by the seed and names, independent of any drawing order."""
    digest = hashlib.blake2b("/".join(map(str, keys)).encode(), digest_size=8).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest, "little")])


@lru_cache(maxsize=4096)
def _sx_text(seed: int, number: int) -> str:
    return make_sentence(keyed_rng(seed, "SX", number))


def _si_text(seed: int, number: int) -> str:
    return make_sentence(keyed_rng(seed, "SI", number))


def plan_corpus(seed: int = 0, train_speakers_per_dr: int = 6) -> list[Speaker]:
    """Speakers (TRAIN then TEST, by dialect region and name) with their ten prompts.

    TEST does not depend on `train_speakers_per_dr`: per region 2 core-test speakers,
    1 dev speaker and 1 other. SX blocks and SI numbers never cross TRAIN and TEST, so
    apart from SA1/SA2 no prompt is in both, as on the real corpus.
    """
    n_train = N_DIALECTS * train_speakers_per_dr
    n_test = 4 * N_DIALECTS
    if train_speakers_per_dr < 1 or 3 * (n_train + n_test) > SI_LAST - SI_FIRST + 1:
        raise ValueError(f"train_speakers_per_dr must be in 1..74, got {train_speakers_per_dr}")
    rng = keyed_rng(seed, "plan")
    standard = set(CORE_TEST_SPEAKERS) | set(DEV_SPEAKERS)
    dev = rng.permutation(len(DEV_SPEAKERS))[:N_DIALECTS]
    test: list[tuple[str, int]] = []
    for d in range(N_DIALECTS):
        core = CORE_TEST_SPEAKERS[3 * d : 3 * d + 3]
        for k in sorted(rng.choice(3, size=2, replace=False)):
            test.append((core[k].upper(), d + 1))
        test.append((DEV_SPEAKERS[dev[d]].upper(), d + 1))
    name_rng = keyed_rng(seed, "names")
    used = set(standard)

    def new_name() -> str:
        while True:
            gender = "F" if name_rng.random() < 0.35 else "M"
            initials = "".join(chr(65 + c) for c in name_rng.integers(0, 26, size=3))
            name = f"{gender}{initials}{0 if name_rng.random() < 0.85 else name_rng.integers(1, 3)}"
            if name.lower() not in used:
                used.add(name.lower())
                return name

    test += [(new_name(), d + 1) for d in range(N_DIALECTS)]  # drawn first: TEST fixed
    train = [(new_name(), d + 1) for d in range(N_DIALECTS) for _ in range(train_speakers_per_dr)]

    blocks = [int(b) for b in rng.permutation(SX_BLOCK) + SX_FIRST]
    n_test_blocks = math.ceil(n_test / SPEAKERS_PER_SX)
    test_blocks = blocks[:n_test_blocks]
    train_blocks = blocks[n_test_blocks:][: max(1, math.ceil(n_train / SPEAKERS_PER_SX))]
    si = [int(s) for s in rng.permutation(SI_LAST - SI_FIRST + 1) + SI_FIRST]
    si_test, si_train = si[: 3 * n_test], si[3 * n_test :]

    speakers = []
    for split, people, sx_blocks, si_numbers, order_key in (
        ("TRAIN", train, train_blocks, si_train, "train-order"),
        ("TEST", test, test_blocks, si_test, "test-order"),
    ):
        order = keyed_rng(seed, order_key).permutation(len(people))
        for rank, k in enumerate(order):
            name, dr = people[k]
            block = sx_blocks[rank % len(sx_blocks)]
            utts = [Utterance(uid, text) for uid, text in SA_TEXTS.items()]
            utts += [Utterance(f"SI{n}", _si_text(seed, n)) for n in sorted(si_numbers[3 * rank : 3 * rank + 3])]
            utts += [Utterance(f"SX{block + SX_BLOCK * j}", _sx_text(seed, block + SX_BLOCK * j)) for j in range(SX_PER_SPEAKER)]
            speakers.append(Speaker(name, split, dr, tuple(utts)))
    split_rank = {"TRAIN": 0, "TEST": 1}
    return sorted(speakers, key=lambda s: (split_rank[s.split], s.dialect, s.name))


def utterance_phones(seed: int, speaker: Speaker, utt: Utterance) -> list[tuple[str, int | None]]:
    """The phone sequence this speaker says for this prompt (with word indices)."""
    return pronounce(sentence_words(utt.text), keyed_rng(seed, speaker.name, utt.uid, "phones"))


