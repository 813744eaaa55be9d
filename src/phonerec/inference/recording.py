"""One recording in: read it, refuse what cannot be transcribed (one line naming it), warn of what will
decode badly (silent, clipped, band-limited, far from the training level), and optionally bring its
level back to the training corpus's. The command, the API and the page check audio here alone."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from phonerec.features.audio import AudioError, audio_info, load_audio
from phonerec.features.levels import FIX_NATS, level_offset, level_problem, signal_problems

log = logging.getLogger(__name__)

MIN_SECONDS = 0.05  # five 10 ms frames: shorter input has no phone to find


class TranscribeError(ValueError):
    """One input cannot be transcribed; the message is one line naming the file."""


def read_recording(path, sample_rate: int) -> tuple[torch.Tensor, int]:
    """(mono waveform at `sample_rate`, the file's own rate), or TranscribeError with the reason."""
    path = Path(path)
    if not path.exists():
        raise TranscribeError(f"{path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise TranscribeError(f"{path}: empty file")
    try:
        wave = load_audio(path, sample_rate)
        source_rate = audio_info(path)[1]
    except AudioError as e:
        raise TranscribeError(str(e)) from None
    return wave, source_rate


def check_samples(wave: torch.Tensor, sample_rate: int, name: str) -> torch.Tensor:
    """`wave` when it can be transcribed; TranscribeError for NaN / infinite samples or too short."""
    if not torch.isfinite(wave).all():
        raise TranscribeError(f"{name}: audio contains NaN or infinite samples")
    if len(wave) < MIN_SECONDS * sample_rate:
        raise TranscribeError(f"{name}: too short ({len(wave) / sample_rate:.3f} s; at least {MIN_SECONDS:.3f} s needed)")
    return wave


def recording_problems(wave: torch.Tensor, sample_rate: int, source_rate: int, fbank, cmvn_mean) -> list[str]:
    """Why this recording may be decoded badly: silent, clipped, band-limited, or far from the
    training corpus's level (features.levels); [] for an ordinary one."""
    problems = signal_problems(wave, sample_rate, source_rate)
    if problems[:1] and problems[0].startswith("is digital silence"):
        return problems
    return problems + level_problem(level_offset(fbank(wave), cmvn_mean))


def leveled(wave: torch.Tensor, fbank, cmvn_mean) -> torch.Tensor:
    """`wave` scaled to the training corpus's mean level when it is beyond FIX_NATS from it (a gain
    g shifts every log-mel bin by 2 ln g, except where the log floor flattens a quiet bin, so the
    gain is refined a few times); an ordinary recording is returned as it is."""
    offset = level_offset(fbank(wave), cmvn_mean)
    if offset is None or abs(offset) <= FIX_NATS:
        return wave
    gain = 1.0
    for _ in range(4):
        gain *= math.exp(-offset / 2)
        offset = level_offset(fbank(wave * gain), cmvn_mean)
        if abs(offset) < 0.1:
            break
    return wave * gain
