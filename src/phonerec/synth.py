"""Synthetic TIMIT: a small corpus in the exact LDC TIMIT layout, made from scratch.

Real TIMIT is licensed, so the recipe and every test run on this stand-in. It keeps
what the pipeline depends on: the TRAIN/TEST/DR/speaker/utterance tree, SA/SX/SI
sentence kinds, the standard core-test and dev speaker names, NIST SPHERE audio,
.PHN/.WRD/.TXT labels with TIMIT's 61 phones and labelling conventions (closures
before releases, flaps, glottal stops, reduced vowels, pauses, epenthetic silence).

The audio is a vectorised source-filter synthesis: a glottal pulse train and two
noise sources, shaped frame by frame (STFT) by formant resonators or fricative bands,
gated sample by sample. Phones that are close in real speech get close parameters and
speakers, tokens, noise and channels vary, so a recogniser can learn the phones but
cannot reach zero error.

Everything is a function of the seed: each utterance draws from its own generator
keyed by (seed, speaker, utterance), so files are byte-identical whatever the order
or the number of worker processes.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
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
        if words[i] == "a" and LEXICON[words[i + 1]][0][0] in _VOWELS:
            words[i] = "an"
    text = " ".join("I" if w == "i" else w for w in words)
    return text[0].upper() + text[1:] + "."


def sentence_words(text: str) -> list[str]:
    """The words of a prompt as they appear in .WRD files (lower case, no punctuation)."""
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


# ---------------------------------------------------------------------------------
# Pronunciation: words -> 61-phone sequence with TIMIT labelling conventions
# ---------------------------------------------------------------------------------

# Closure of each stop release and affricate, as in TIMIT's labels (also used by lexicon.with_closures).
STOP_CLOSURES = {"b": "bcl", "d": "dcl", "g": "gcl", "p": "pcl", "t": "tcl", "k": "kcl"}
AFFRICATE_CLOSURES = {"ch": "tcl", "jh": "dcl"}
_VOWELS = set("iy ih eh ey ae aa aw ay ah ao oy ow uh uw ux er ax ix axr ax-h".split())
_VOCALIC = _VOWELS | {"el", "em", "en", "eng"}
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
        elif ph in ("t", "d") and (p_ph in _VOCALIC or p_ph == "r") and n_ph in _VOCALIC:
            if (not across and n_ph in _UNSTRESSED and r < 0.7) or (across and r < 0.45):
                item[0] = "dx"
            elif ph == "t" and across and r < 0.7:
                item[0] = "q"  # suit in: s ux q en
        elif ph == "t" and word_final and p_ph in _VOCALIC and n_ph not in STOP_CLOSURES and r < 0.25:
            item[0] = "q"  # that.: dh ae q
        elif ph == "d" and across and n_ph == "y" and r < 0.35:
            item[0] = "jh"  # had your: hv ae dcl jh er
            nxt[0] = None
        elif ph == "n" and p_ph in _VOCALIC and n_ph in _VOCALIC and (across or n_ph in _UNSTRESSED) and r < 0.5:
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
        if word_initial and ph in _VOWELS:
            after_break = prev is None or prev[0] == "pau"
            if rng.random() < (0.5 if after_break else 0.35 if prev[0] in _VOCALIC else 0.1):
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
            elif word_final and n_ph not in _VOCALIC:
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


def _rng(seed: int, *keys) -> np.random.Generator:
    """A generator keyed by the seed and names, independent of any drawing order."""
    digest = hashlib.blake2b("/".join(map(str, keys)).encode(), digest_size=8).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest, "little")])


@lru_cache(maxsize=4096)
def _sx_text(seed: int, number: int) -> str:
    return make_sentence(_rng(seed, "SX", number))


def _si_text(seed: int, number: int) -> str:
    return make_sentence(_rng(seed, "SI", number))


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
    rng = _rng(seed, "plan")
    standard = set(CORE_TEST_SPEAKERS) | set(DEV_SPEAKERS)
    dev = rng.permutation(len(DEV_SPEAKERS))[:N_DIALECTS]
    test: list[tuple[str, int]] = []
    for d in range(N_DIALECTS):
        core = CORE_TEST_SPEAKERS[3 * d : 3 * d + 3]
        for k in sorted(rng.choice(3, size=2, replace=False)):
            test.append((core[k].upper(), d + 1))
        test.append((DEV_SPEAKERS[dev[d]].upper(), d + 1))
    name_rng = _rng(seed, "names")
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
        order = _rng(seed, order_key).permutation(len(people))
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
    return pronounce(sentence_words(utt.text), _rng(seed, speaker.name, utt.uid, "phones"))


# ---------------------------------------------------------------------------------
# Acoustics
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phone:
    """Synthesis targets of one phone. Levels are dB relative to a vowel (None: off)."""

    kind: str  # vowel, semi, nasal, fric, vclosure, closure, release, affricate, flap, glottal, aspirate, silence
    dur: float  # mean duration, ms
    f: tuple[float, float, float] | None = None  # F1-F3 (adult male), None: from neighbours
    f_end: tuple[float, float, float] | None = None  # diphthong end point
    av: float | None = None  # voicing
    an: float | None = None  # aspiration (noise through the formants)
    af: float | None = None  # frication (noise through `band`)
    band: tuple[float, float] = (3000.0, 2.0)  # frication centre Hz, width in octaves
    lp: float = 6000.0  # low-pass on the voice source (nasal murmur, voice bar)
    zero: float | None = None  # nasal anti-resonance, Hz


def _vowel(dur, f, f_end=None, av=0.0):
    return _Phone("vowel", dur, f, f_end, av=av)


# Loci that formant transitions point at, per place of articulation.
_LAB, _ALV, _VEL = (300, 900, 2200), (300, 1700, 2600), (300, 2000, 2300)
_PAL, _DEN, _LABDEN = (300, 1900, 2500), (300, 1400, 2500), (300, 1000, 2300)
_S_BAND, _SH_BAND = (5500.0, 0.45), (3000.0, 0.55)
_F_BAND, _TH_BAND = (5000.0, 2.2), (5800.0, 2.0)

# Formant targets: Hillenbrand et al. (1995) / Peterson & Barney (1952) adult male
# averages; close vowel pairs (aa/ao, ih/ix, er/axr, ah/ax, uw/ux) stay close.
_PHONES: dict[str, _Phone] = {
    "iy": _vowel(95, (320, 2290, 3000), av=-3),
    "ih": _vowel(70, (420, 2000, 2650), av=-2),
    "eh": _vowel(85, (570, 1800, 2600), av=-1),
    "ey": _vowel(120, (480, 2050, 2700), (360, 2250, 2850), av=-1),
    "ae": _vowel(125, (650, 1850, 2550)),
    "aa": _vowel(120, (750, 1220, 2520)),
    "aw": _vowel(140, (720, 1250, 2500), (460, 950, 2400)),
    "ay": _vowel(135, (720, 1220, 2500), (400, 2000, 2600)),
    "ah": _vowel(75, (630, 1200, 2550), av=-1),
    "ao": _vowel(120, (650, 1000, 2530)),
    "oy": _vowel(145, (520, 880, 2450), (380, 1950, 2550)),
    "ow": _vowel(115, (500, 920, 2450), (420, 850, 2400), av=-1),
    "uh": _vowel(70, (470, 1120, 2430), av=-2),
    "uw": _vowel(100, (360, 1000, 2340), av=-3),
    "ux": _vowel(85, (370, 1550, 2350), av=-3),
    "er": _vowel(105, (480, 1380, 1700), av=-1),
    "ax": _vowel(48, (520, 1420, 2500), av=-4),
    "ix": _vowel(45, (440, 1820, 2550), av=-4),
    "axr": _vowel(60, (490, 1400, 1760), av=-4),
    "ax-h": _Phone("aspirate", 32, (520, 1420, 2500), an=-14),
    "l": _Phone("semi", 55, (380, 1000, 2550), av=-6, lp=3000),
    "el": _Phone("semi", 85, (450, 950, 2600), av=-5, lp=3000),
    "r": _Phone("semi", 55, (370, 1150, 1550), av=-5),
    "w": _Phone("semi", 55, (320, 750, 2300), av=-8, lp=2500),
    "y": _Phone("semi", 50, (280, 2150, 2950), av=-7),
    "m": _Phone("nasal", 60, (270, 1100, 2200), av=-9, lp=1000, zero=1000),
    "n": _Phone("nasal", 55, (270, 1600, 2600), av=-9, lp=1100, zero=1800),
    "ng": _Phone("nasal", 60, (270, 2000, 2600), av=-9, lp=1100, zero=3000),
    "em": _Phone("nasal", 85, (300, 1100, 2200), av=-8, lp=1100, zero=1000),
    "en": _Phone("nasal", 75, (300, 1600, 2600), av=-8, lp=1200, zero=1800),
    "eng": _Phone("nasal", 80, (300, 2000, 2600), av=-8, lp=1200, zero=3000),
    "nx": _Phone("nasal", 32, (300, 1650, 2600), av=-9, lp=1500, zero=1800),
    "dx": _Phone("flap", 24, (350, 1700, 2600), av=-9, lp=2500),
    "q": _Phone("glottal", 40, None, av=-14),
    "hh": _Phone("aspirate", 55, None, an=-16),
    "hv": _Phone("aspirate", 50, None, av=-12, an=-17),
    "s": _Phone("fric", 105, _ALV, af=-8, band=_S_BAND),
    "z": _Phone("fric", 80, _ALV, av=-16, af=-12, band=_S_BAND),
    "sh": _Phone("fric", 110, _PAL, af=-6, band=_SH_BAND),
    "zh": _Phone("fric", 70, _PAL, av=-15, af=-11, band=_SH_BAND),
    "f": _Phone("fric", 95, _LABDEN, af=-22, band=_F_BAND),
    "th": _Phone("fric", 85, _DEN, af=-23, band=_TH_BAND),
    "v": _Phone("fric", 50, _LABDEN, av=-12, af=-26, band=_F_BAND, lp=2500),
    "dh": _Phone("fric", 38, _DEN, av=-11, af=-26, band=_TH_BAND, lp=2500),
    "bcl": _Phone("vclosure", 50, _LAB, av=-20, lp=350),
    "dcl": _Phone("vclosure", 45, _ALV, av=-20, lp=350),
    "gcl": _Phone("vclosure", 50, _VEL, av=-20, lp=350),
    "pcl": _Phone("closure", 65, _LAB),
    "tcl": _Phone("closure", 55, _ALV),
    "kcl": _Phone("closure", 60, _VEL),
    "b": _Phone("release", 15, _LAB, av=-8, af=-16, band=(900.0, 1.4)),
    "d": _Phone("release", 18, _ALV, av=-8, af=-13, band=(4200.0, 0.8)),
    "g": _Phone("release", 25, _VEL, av=-8, af=-12, band=(2100.0, 0.5)),
    "p": _Phone("release", 40, _LAB, an=-14, af=-14, band=(900.0, 1.4)),
    "t": _Phone("release", 45, _ALV, an=-13, af=-10, band=(4200.0, 0.8)),
    "k": _Phone("release", 50, _VEL, an=-13, af=-11, band=(2100.0, 0.5)),
    "ch": _Phone("affricate", 75, _PAL, af=-6, band=_SH_BAND),
    "jh": _Phone("affricate", 55, _PAL, av=-15, af=-10, band=_SH_BAND),
    "h#": _Phone("silence", 200),
    "pau": _Phone("silence", 170, an=-42),
    "epi": _Phone("silence", 22, af=-48),
}
assert set(_PHONES) == set(PHONES_61)

_VOWEL_LIKE = {p for p, s in _PHONES.items() if s.kind in ("vowel", "semi")}
# STFT shaping: 32 ms frames every 16 ms; sine analysis and synthesis windows
# multiply to a hann window, which sums to one at 50 % overlap.
_HOP, _NFFT = 256, 512
_WIN = np.sqrt(np.hanning(_NFFT + 1)[:-1]).astype(np.float32)
_FREQS = np.fft.rfftfreq(_NFFT, 1.0 / SAMPLE_RATE)
_LOGF = np.log2(np.maximum(_FREQS, 20.0))
TEMPO = 0.85  # global duration scale: keeps utterances near 1.2-3 s
# Difficulty knobs, tuned so a frame classifier learns the phones but stays far from
# perfect: token and speaker formant spread (log scale, F1-F3) and transition length.
TOKEN_SPREAD = (0.10, 0.09, 0.05)
REDUCTION = 0.4  # largest pull of a vowel token towards schwa
_SCHWA = np.array([500.0, 1500.0, 2500.0])
SPEAKER_SPREAD = 0.05
SMOOTH_MS = 48  # formant transitions: a step becomes a ramp this long


@dataclass(frozen=True)
class _Voice:
    """What stays fixed for one speaker: anatomy, habits, microphone."""

    vtl: float  # formant scale (vocal-tract length), ~0.85-1.2
    f0: float  # mean pitch, Hz
    rate: float  # duration factor
    bw: float  # bandwidth factor
    src_corner: float  # glottal spectrum corner, Hz
    breath: float  # aspiration mixed into voicing
    fric: float  # fricative band scale
    tilt: float  # channel tilt, dB per octave around 1 kHz
    eq: tuple[tuple[float, float, float], ...]  # channel bumps: (centre Hz, width oct, dB)
    offsets: dict  # phone -> F1-F3 multipliers (idiolect and dialect)


@lru_cache(maxsize=256)
def _voice(seed: int, name: str, dialect: int) -> _Voice:
    rng = _rng(seed, name, "voice")
    female = name[0] == "F"
    vtl = float(np.clip(rng.normal(1.12 if female else 0.96, 0.04), 0.85, 1.22))
    dr_rng = _rng(seed, "dialect", dialect)
    offsets = {}
    for ph in PHONES_61:
        spread = SPEAKER_SPREAD if ph in _VOWEL_LIKE else SPEAKER_SPREAD / 2
        dr = dr_rng.normal(1.0, [0.04, 0.04, 0.015]) if ph in _VOWEL_LIKE else np.ones(3)
        offsets[ph] = dr * rng.normal(1.0, [spread, spread, spread / 2])
    return _Voice(
        vtl=vtl,
        f0=float(np.exp(rng.normal(np.log(210 if female else 115), 0.13))),
        rate=float(np.clip(rng.normal(1.0, 0.1), 0.78, 1.25)),
        bw=float(rng.uniform(0.8, 1.4)),
        src_corner=float(rng.uniform(150, 450)),
        breath=float(10 ** (rng.uniform(-32, -20 if female else -24) / 20)),
        fric=float(vtl ** 0.5 * rng.normal(1.0, 0.05)),
        tilt=float(rng.uniform(-3, 3)),
        eq=tuple((float(rng.uniform(200, 6000)), float(rng.uniform(0.3, 1.5)), float(rng.normal(0, 3))) for _ in range(3)),
        offsets=offsets,
    )


def _durations(phones: list[tuple[str, int | None]], voice: _Voice, rng: np.random.Generator) -> np.ndarray:
    """Phone boundaries in samples (len(phones) + 1 values, first 0)."""
    ms = np.array([_PHONES[p].dur for p, _ in phones]) * voice.rate * rng.normal(1.0, 0.05) * TEMPO
    ms *= np.exp(rng.normal(0.0, 0.28, size=len(ms)))
    last_word = max(w for _, w in phones if w is not None)
    for i, (p, w) in enumerate(phones):  # phrase-final lengthening
        before_pause = i + 1 < len(phones) and phones[i + 1][0] == "pau"
        if (w == last_word or before_pause) and p in _VOCALIC | _VOWEL_LIKE:
            ms[i] *= 1.3
    ms[0], ms[-1] = rng.uniform(100, 300, size=2)  # leading and trailing h#
    ms = np.maximum(ms, 6.0)
    return np.round(np.concatenate([[0.0], np.cumsum(ms)]) * SAMPLE_RATE / 1000).astype(np.int64)


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred box filter along axis 0 with edge padding (transitions, amplitude ramps)."""
    if width <= 1:
        return x
    pad = [(width // 2, width - 1 - width // 2)] + [(0, 0)] * (x.ndim - 1)
    c = np.cumsum(np.pad(x, pad, mode="edge"), axis=0)
    c = np.concatenate([np.zeros_like(c[:1]), c])
    return (c[width:] - c[:-width]) / width


def _spectra(x: np.ndarray, frames: int) -> np.ndarray:
    """STFT, frame i centred on sample i * _HOP; float32 for speed."""
    padded = np.pad(x.astype(np.float32), (_NFFT // 2, _NFFT + _HOP))
    view = np.lib.stride_tricks.sliding_window_view(padded, _NFFT)[:: _HOP][:frames]
    return np.fft.rfft(view * _WIN, axis=1)


def _overlap_add(spectra: np.ndarray, n: int) -> np.ndarray:
    """Inverse of `_spectra` (weighted overlap-add), trimmed to n samples."""
    frames, r = spectra.shape[0], _NFFT // _HOP
    blocks = (np.fft.irfft(spectra, n=_NFFT, axis=1) * _WIN).reshape(frames, r, _HOP)
    out = np.zeros((frames + r, _HOP), dtype=np.float32)
    for k in range(r):
        out[k : k + frames] += blocks[:, k]
    return out.reshape(-1)[_NFFT // 2 : _NFFT // 2 + n].astype(np.float64)


def _resonators(formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Magnitude of cascaded 2-pole resonators (unit gain at DC), frames x bins."""
    f = _FREQS[None, :]
    power = np.ones((formants.shape[0], len(_FREQS)))
    for fk, bk in zip(formants.T, bandwidths.T):  # one sqrt for the whole cascade
        fk, b2 = fk[:, None], (bk[:, None] / 2) ** 2
        power *= (fk**2 + b2) ** 2 / (((f - fk) ** 2 + b2) * ((f + fk) ** 2 + b2))
    return np.sqrt(power)


def _unit_rms(h: np.ndarray) -> np.ndarray:
    return (h / np.sqrt(np.mean(h**2, axis=1, keepdims=True) + 1e-20)).astype(np.float32)


def _render(phones: list[tuple[str, int | None]], bounds: np.ndarray, voice: _Voice, rng: np.random.Generator) -> np.ndarray:
    """Float waveform of one utterance through the speaker's channel (before noise, scaling)."""
    names = [p for p, _ in phones]
    specs = [_PHONES[p] for p in names]
    starts, ends = bounds[:-1], bounds[1:]
    n = int(bounds[-1])
    n_frames = n // _HOP + 1
    centres = np.arange(n_frames) * _HOP
    idx = np.clip(np.searchsorted(ends, centres, side="right"), 0, len(phones) - 1)
    frac = np.clip((centres - starts[idx]) / (ends - starts)[idx], 0.0, 1.0)[:, None]

    # Formant tracks: per-token targets (jittered), diphthong glides, transparent phones
    # take their neighbours' values, then SMOOTH_MS smoothing gives the coarticulation.
    tgt0 = np.full((len(phones), 3), np.nan)
    tgt1 = np.full((len(phones), 3), np.nan)
    for i, (p, s) in enumerate(zip(names, specs)):
        if s.f is None:
            continue
        scale = voice.vtl * voice.offsets[p] * np.exp(rng.normal(0.0, TOKEN_SPREAD))
        tgt0[i] = np.array(s.f) * scale
        tgt1[i] = np.array(s.f_end or s.f) * scale
        if p in _VOWELS:  # random centralisation: unstressed tokens drift to schwa
            r = rng.uniform(0.0, REDUCTION)
            tgt0[i] += r * (_SCHWA * scale - tgt0[i])
            tgt1[i] += r * (_SCHWA * scale - tgt1[i])
    tracks = tgt0[idx] + (tgt1[idx] - tgt0[idx]) * frac
    known = ~np.isnan(tracks[:, 0])
    if not known.any():
        tracks[:] = np.array((500, 1500, 2500)) * voice.vtl
    else:
        for k in range(3):
            tracks[:, k] = np.interp(centres, centres[known], tracks[known, k])
    tracks = _moving_average(tracks, max(1, round(SMOOTH_MS * SAMPLE_RATE / 1000 / _HOP)))
    tracks[:, 1] = np.maximum(tracks[:, 1], tracks[:, 0] + 150)
    tracks[:, 2] = np.maximum(tracks[:, 2], tracks[:, 1] + 200)
    nasal = np.array([s.kind == "nasal" for s in specs])[idx].astype(float)
    bw_scale = _moving_average(np.outer(nasal, [0.8, 2.5, 2.5]) + 1.0, 2)
    bandwidths = np.array([80.0, 100.0, 140.0]) * bw_scale * voice.bw

    # Spectral shapes of the three sources. Shapes fixed within a phone are computed
    # once per phone and indexed by frame; the STFT overlap smooths their changes.
    f = _FREQS[None, :]
    lp = np.array([s.lp for s in specs])[:, None]
    zero = np.array([s.zero or 0.0 for s in specs])[:, None] * voice.vtl
    notch = 1.0 - 0.85 * (zero > 0) * np.exp(-0.5 * ((f - zero) / (0.15 * zero + 1.0)) ** 2)
    res = _resonators(tracks, bandwidths) * _resonators(
        np.array([[3500.0, 4500.0]]) * voice.vtl, np.array([[250.0, 250.0]]) * voice.bw
    )
    src = 1.0 / np.sqrt(1.0 + (f / voice.src_corner) ** 2)  # glottal roll-off
    h_voice = _unit_rms(res * src * (notch / np.sqrt(1.0 + (f / lp) ** 4))[idx])
    h_asp = _unit_rms(res * (1.0 - 1.0 / (1.0 + (f / 500.0) ** 2)))
    centre = np.log2(np.array([s.band[0] for s in specs]))[:, None] + np.log2(voice.fric)
    centre = centre + rng.normal(0.0, 0.15, centre.shape)  # octaves, per token
    width = np.array([s.band[1] for s in specs])[:, None] * np.exp(rng.normal(0.0, 0.2, centre.shape))
    h_fric = _unit_rms(np.exp(-0.5 * ((_LOGF[None, :] - centre) / width) ** 2) + 0.01)[idx]

    # Sample-level gains of voicing, aspiration and frication, shaped per phone (dB).
    lin = np.zeros((3, n))
    for s, (a, b) in zip(specs, zip(starts, ends)):
        t = np.arange(b - a) / SAMPLE_RATE
        dur = max((b - a) / SAMPLE_RATE, 1e-3)
        jit = rng.normal(0.0, 2.5)
        if s.av is not None:
            av = s.av + jit
            if s.kind == "fric" or s.kind == "affricate":
                av += rng.uniform(-8, 4)  # voiced fricatives are often partly devoiced
            if s.kind == "vclosure":
                av = av - 12 * t / dur  # the voice bar dies out
            elif s.kind == "release":
                av = av - 10 * np.exp(-t / 0.005)
            elif s.kind == "glottal":
                av = av - 12 * np.sin(np.pi * t / dur)
            lin[0, a:b] = 10 ** (av / 20)
        if s.an is not None:
            an = s.an + jit - (12 * np.exp(-t / 0.006) if s.kind == "release" else 0)
            lin[1, a:b] = 10 ** (an / 20)
        if s.af is not None:
            af = s.af + jit
            if s.kind == "release":
                af = af - 8.7 * t / 0.006  # burst decays within a few ms
            elif s.kind == "affricate":
                af = af + 4 * np.exp(-t / 0.008)
            lin[2, a:b] = 10 ** (af / 20)
    lin[0] = _moving_average(lin[0], 160)  # 10 ms ramps of voicing
    lin[1] = _moving_average(lin[1], 96)
    lin[2] = _moving_average(lin[2], 48)  # sharp bursts
    lin[1] += voice.breath * lin[0]

    # The sources are gated in time, then shaped frame by frame: one inverse STFT for all.
    pulses = _pulse_train(n, phones, bounds, voice, rng)
    noise = rng.standard_normal((2, n))
    spectra = _spectra(pulses * lin[0], n_frames) * h_voice
    spectra += _spectra(noise[0] * lin[1], n_frames) * h_asp
    spectra += _spectra(noise[1] * lin[2], n_frames) * h_fric
    spectra *= _channel(voice.tilt, voice.eq, _NFFT)
    return _overlap_add(spectra, n)


def _pulse_train(n: int, phones, bounds: np.ndarray, voice: _Voice, rng: np.random.Generator) -> np.ndarray:
    """Glottal pulses with declination, slow intonation, jitter, shimmer and creaky q."""
    t = np.arange(0, n + 160, 160) / SAMPLE_RATE  # contour at 100 Hz, interpolated below
    f0 = voice.f0 * rng.normal(1.0, 0.05) * (1.1 - 0.2 * t / t[-1])
    for _ in range(3):
        f0 *= 1.0 + rng.uniform(0.02, 0.06) * np.sin(2 * np.pi * rng.uniform(0.4, 2.5) * t + rng.uniform(0, 2 * np.pi))
    f0 = np.interp(np.arange(n), np.arange(len(t)) * 160, f0)
    for (p, _), a, b in zip(phones, bounds[:-1], bounds[1:]):
        if p == "q":
            f0[a:b] *= 0.55
    phase = np.cumsum(f0 / SAMPLE_RATE)
    pos = np.flatnonzero(np.diff(np.floor(phase))) + 1
    period = SAMPLE_RATE / f0[pos]
    pos = np.clip(np.round(pos + rng.normal(0.0, 0.01, len(pos)) * period).astype(np.int64), 0, n - 1)
    return np.bincount(pos, np.sqrt(period) * np.exp(rng.normal(0.0, 0.1, len(pos))), minlength=n)


def _finish(speech: np.ndarray, phones, bounds: np.ndarray, voice: _Voice, rng: np.random.Generator) -> np.ndarray:
    """Background noise (through the same channel) at a random SNR, int16 at a random level."""
    n = len(speech)
    active = np.zeros(n, dtype=bool)
    for (p, _), a, b in zip(phones, bounds[:-1], bounds[1:]):
        active[a:b] = _PHONES[p].kind != "silence"
    power = np.mean(speech[active] ** 2) if active.any() else np.mean(speech**2)
    m = 1 << (n - 1).bit_length()  # FFT-friendly length; the tail is cut off again
    f = np.maximum(np.fft.rfftfreq(m, 1.0 / SAMPLE_RATE), 20.0)
    colour = (f / 1000.0) ** (-rng.uniform(0.0, 1.0))  # white to pink-ish room noise
    shape = colour * _channel(voice.tilt, voice.eq, m)
    noise = np.fft.irfft((rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * shape, n=m)[:n]
    snr_db = rng.uniform(12.0, 32.0)
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / np.mean(noise**2))
    out = speech + noise
    peak = rng.uniform(4000.0, 20000.0)
    return np.clip(np.round(out * peak / np.max(np.abs(out))), -32768, 32767).astype(np.int16)


@lru_cache(maxsize=64)
def _channel(tilt: float, eq: tuple, m: int) -> np.ndarray:
    """A speaker's microphone and line: tilt, a few broad bumps, a 60 Hz high-pass."""
    f = np.maximum(np.fft.rfftfreq(m, 1.0 / SAMPLE_RATE), 20.0)
    db = tilt * np.log2(f / 1000.0)
    for centre, width, gain in eq:
        db = db + gain * np.exp(-0.5 * (np.log2(f / centre) / width) ** 2)
    return (10 ** (db / 20) / np.sqrt(1.0 + (60.0 / f) ** 4)).astype(np.float32)


@dataclass(frozen=True)
class SynthUtterance:
    samples: np.ndarray  # int16
    phones: list[tuple[int, int, str]]  # .PHN rows
    words: list[tuple[int, int, str]]  # .WRD rows


def synthesize_utterance(seed: int, speaker: Speaker, utt: Utterance) -> SynthUtterance:
    """Audio and time-aligned labels of one utterance; depends only on its arguments."""
    voice = _voice(seed, speaker.name, speaker.dialect)
    rng = _rng(seed, speaker.name, utt.uid, "audio")
    phones = utterance_phones(seed, speaker, utt)
    bounds = _durations(phones, voice, rng)
    samples = _finish(_render(phones, bounds, voice, rng), phones, bounds, voice, rng)
    phn = [(int(a), int(b), p) for (p, _), a, b in zip(phones, bounds[:-1], bounds[1:])]
    words = sentence_words(utt.text)
    wrd = []
    for wi, word in enumerate(words):
        spans = [k for k, (_, w) in enumerate(phones) if w == wi]
        wrd.append((int(bounds[spans[0]]), int(bounds[spans[-1] + 1]), word))
    return SynthUtterance(samples, phn, wrd)


# ---------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------

SPHERE_HEADER_SIZE = 1024


def write_sphere(path, samples, sample_rate: int = SAMPLE_RATE, utterance_id: str = "") -> None:
    """Write 16-bit mono PCM as an uncompressed NIST SPHERE file like the LDC TIMIT disc."""
    data = np.asarray(samples, dtype="<i2")
    fields = [
        ("database_id", "-s5", "TIMIT"),
        ("database_version", "-s3", "1.0"),
        ("utterance_id", f"-s{len(utterance_id)}", utterance_id),
        ("channel_count", "-i", 1),
        ("sample_count", "-i", len(data)),
        ("sample_max", "-i", int(data.max()) if len(data) else 0),
        ("sample_min", "-i", int(data.min()) if len(data) else 0),
        ("sample_rate", "-i", sample_rate),
        ("sample_n_bytes", "-i", 2),
        ("sample_byte_format", "-s2", "01"),  # little-endian
        ("sample_sig_bits", "-i", 16),
    ]
    lines = ["NIST_1A", "   1024", *(f"{k} {t} {v}" for k, t, v in fields), "end_head"]
    header = ("\n".join(lines) + "\n").encode("ascii")
    if len(header) > SPHERE_HEADER_SIZE:
        raise ValueError(f"SPHERE header too long ({len(header)} bytes)")
    with open(path, "wb") as fh:
        fh.write(header.ljust(SPHERE_HEADER_SIZE, b" "))
        fh.write(data.tobytes())


def read_sphere_header(path) -> dict[str, str | int]:
    """Fields of a NIST SPHERE header (ints for -i fields)."""
    with open(path, "rb") as fh:
        head = fh.read(SPHERE_HEADER_SIZE).decode("ascii")
    fields: dict[str, str | int] = {}
    for line in head.splitlines()[2:]:
        if line.strip() == "end_head":
            break
        key, kind, value = (line.split(" ", 2) + [""])[:3]
        fields[key] = int(value) if kind == "-i" else value
    return fields


def write_speaker(root, speaker: Speaker, *, seed: int = 0, lowercase: bool = False, audio_format: str = "sphere") -> int:
    """Write one speaker's ten utterances; returns the number of audio samples written."""
    if audio_format not in ("sphere", "riff"):
        raise ValueError(f"audio_format must be 'sphere' or 'riff', got {audio_format!r}")
    case = str.lower if lowercase else str.upper
    folder = Path(root) / case(speaker.split) / case(f"DR{speaker.dialect}") / case(speaker.name)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for utt in speaker.utterances:
        syn = synthesize_utterance(seed, speaker, utt)
        stem = folder / case(utt.uid)
        wav = stem.with_name(stem.name + case(".WAV"))
        if audio_format == "sphere":
            write_sphere(wav, syn.samples, SAMPLE_RATE, f"{speaker.name}_{utt.uid}".lower())
        else:
            import soundfile as sf

            sf.write(str(wav), syn.samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        n = len(syn.samples)
        stem.with_name(stem.name + case(".PHN")).write_text("".join(f"{a} {b} {p}\n" for a, b, p in syn.phones))
        stem.with_name(stem.name + case(".WRD")).write_text("".join(f"{a} {b} {w}\n" for a, b, w in syn.words))
        stem.with_name(stem.name + case(".TXT")).write_text(f"0 {n} {utt.text}\n")
        total += n
    return total


def _write_speaker_job(args) -> tuple[str, int]:
    root, speaker, seed, lowercase, audio_format = args
    return speaker.split, write_speaker(root, speaker, seed=seed, lowercase=lowercase, audio_format=audio_format)


def generate_corpus(
    root,
    *,
    seed: int = 0,
    train_speakers_per_dr: int = 6,
    lowercase: bool = False,
    audio_format: str = "sphere",
    workers: int | None = None,
) -> dict:
    """Write a synthetic TIMIT under `root` and return a summary.

    The summary has per-split speaker / utterance counts and seconds of audio:
    {"train": {"speakers", "utterances", "seconds"}, "test": {...}, "speakers",
    "utterances", "seconds", "elapsed"}. `workers` processes share the speakers
    (default: all CPUs); the files do not depend on it.
    """
    if audio_format not in ("sphere", "riff"):
        raise ValueError(f"audio_format must be 'sphere' or 'riff', got {audio_format!r}")
    t0 = time.perf_counter()
    speakers = plan_corpus(seed, train_speakers_per_dr)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(root, spk, seed, lowercase, audio_format) for spk in speakers]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_write_speaker_job, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        results = [_write_speaker_job(job) for job in jobs]
    summary: dict = {}
    for split in ("TRAIN", "TEST"):
        spk = [s for s in speakers if s.split == split]
        samples = sum(n for sp, n in results if sp == split)
        summary[split.lower()] = {
            "speakers": len(spk),
            "utterances": sum(len(s.utterances) for s in spk),
            "seconds": samples / SAMPLE_RATE,
        }
    summary["speakers"] = len(speakers)
    summary["utterances"] = summary["train"]["utterances"] + summary["test"]["utterances"]
    summary["seconds"] = summary["train"]["seconds"] + summary["test"]["seconds"]
    summary["elapsed"] = time.perf_counter() - t0
    log.info(
        "synthetic TIMIT in %s: %d speakers, %d utterances, %.2f h of audio (%.1f s) in %.1f s",
        root, summary["speakers"], summary["utterances"], summary["seconds"] / 3600, summary["seconds"], summary["elapsed"],
    )
    return summary
