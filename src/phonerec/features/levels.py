"""Warnings for recordings unlike the ones a model was trained on: silent, clipped, band-limited, or far
quieter or louder than the training corpus.

A model normalises with the training set's CMVN (and, with `features.cmvn: utterance`, each recording's own
mean), so such input is decoded without any sign that it is out of range; on speechocean762 a recording 30 dB
quieter than the corpus went from 46.1 % to 72.6 % PER with global CMVN (49.3 % per utterance), a clipped one
to 59.5 %, 8 kHz audio upsampled to 63.9 % (recipes/speechocean762/README.md).
These checks only warn: the transcript is what the model makes of the audio as it is.
"""
from __future__ import annotations

import math

import torch

SILENT_PEAK = 1e-4  # -80 dBFS: no recording chain is this quiet, only digital zeros (and dither)
CLIP_LEVEL = 0.98  # |sample| at or above this counts as at full scale
CLIP_FRACTION = 1e-3  # more than 0.1 % of the samples at full scale: the peaks were cut off
# energy in 4.5-7.5 kHz this far below the 0.3-3.4 kHz band: nothing up there. Measured on 200 speechocean762
# recordings: originals 1st percentile -33.9 dB (median -16.7), the same upsampled from 8 kHz median -47.1 dB
NARROW_DB = -40.0
LEVEL_NATS = 5.0  # |mean log-mel - the corpus's| beyond this (about 22 dB; speechocean762 test: -2.5..+2.1)
# --fix-level moves a recording beyond the corpus's own spread (2.5 nats, about 11 dB): one 30 dB down but
# loud to begin with is then fixed too (at LEVEL_NATS only 21 of 80 such speechocean762 files were)
FIX_NATS = 2.5
FLOOR_MARGIN = 1.0  # frames within this of the log-mel floor are digital silence, left out of the level


def signal_problems(wave: torch.Tensor, sample_rate: int, source_rate: int) -> list[str]:
    """What is wrong with a mono waveform at `sample_rate` that was recorded at `source_rate`."""
    peak = float(wave.abs().max()) if len(wave) else 0.0
    if peak < SILENT_PEAK:
        return [f"is digital silence (peak {_dbfs(peak)}): there is nothing to recognise"]
    problems = []
    clipped = float((wave.abs() >= CLIP_LEVEL).float().mean())
    if clipped > CLIP_FRACTION:
        problems.append(f"is clipped ({100 * clipped:.2f} % of the samples at full scale): expect more errors")
    if source_rate < sample_rate:
        problems.append(f"was recorded at {source_rate} Hz: nothing above {source_rate // 2} Hz, which the model "
                        f"({sample_rate} Hz) expects; expect more errors")
    elif sample_rate >= 16000 and (ratio := high_band_db(wave, sample_rate)) < NARROW_DB:
        problems.append(f"has no energy above 4.5 kHz ({ratio:.0f} dB below the 0.3-3.4 kHz band: telephone or "
                        f"8 kHz audio upsampled); expect more errors")
    return problems


def high_band_db(wave: torch.Tensor, sample_rate: int) -> float:
    """Power in 4.5-7.5 kHz relative to 0.3-3.4 kHz (the telephone band), in dB, from one long FFT
    average (Welch, 32 ms Hann windows)."""
    n = 512
    if len(wave) < n:
        wave = torch.nn.functional.pad(wave, (0, n - len(wave)))
    frames = wave[: len(wave) // n * n].reshape(-1, n)
    power = (torch.fft.rfft(frames * torch.hann_window(n), dim=-1).abs() ** 2).mean(0)
    hz = torch.fft.rfftfreq(n, 1 / sample_rate)
    high = power[(hz >= 4500) & (hz <= 7500)].mean()
    speech = power[(hz >= 300) & (hz <= 3400)].mean()
    return 10 * math.log10(float(high) / float(speech) + 1e-30) if float(speech) > 0 else 0.0


def level_offset(feats: torch.Tensor, cmvn_mean, floor: float = math.log(1e-6)) -> float | None:
    """Mean log-mel of the non-silent frames minus the training corpus's mean (nats; x 4.34 for dB),
    or None when every frame is digital silence."""
    frames = feats.float().mean(-1)
    sound = frames > floor + FLOOR_MARGIN
    if not bool(sound.any()):
        return None
    return float(frames[sound].mean()) - float(torch.as_tensor(cmvn_mean, dtype=torch.float32).mean())


def level_problem(offset: float | None) -> list[str]:
    """A warning when the level is far outside what the model was trained on."""
    if offset is None or abs(offset) <= LEVEL_NATS:
        return []
    db = 10 / math.log(10) * offset
    side = "quieter" if db < 0 else "louder"
    return [f"is about {abs(db):.0f} dB {side} than the training recordings: expect more errors "
            f"(scale it to a normal level)"]


def _dbfs(x: float) -> str:
    return "-inf dBFS" if x <= 0 else f"{20 * math.log10(x):.0f} dBFS"
