"""Synthetic TIMIT, part 2: how it sounds. A vectorised source-filter synthesis: a glottal pulse
train and two noise sources, shaped frame by frame (STFT) by formant resonators or fricative bands,
gated sample by sample; speakers, tokens, noise and channels vary."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from phonerec.corpora.synthetic.text import (
    PHONES_61,
    SAMPLE_RATE,
    VOCALIC,
    VOWELS,
    Speaker,
    Utterance,
    keyed_rng,
    sentence_words,
    utterance_phones,
)

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
    rng = keyed_rng(seed, name, "voice")
    female = name[0] == "F"
    vtl = float(np.clip(rng.normal(1.12 if female else 0.96, 0.04), 0.85, 1.22))
    dr_rng = keyed_rng(seed, "dialect", dialect)
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
        if (w == last_word or before_pause) and p in VOCALIC | _VOWEL_LIKE:
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
        if p in VOWELS:  # random centralisation: unstressed tokens drift to schwa
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
    rng = keyed_rng(seed, speaker.name, utt.uid, "audio")
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


