"""Audio loading through soundfile (reads NIST SPHERE, RIFF WAV, FLAC), mono, 16 kHz."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from phonerec.features import dsp

SAMPLE_RATE = 16000
AUDIO_SUFFIXES = (".wav", ".flac", ".sph", ".nist", ".ogg", ".opus", ".mp3", ".aif", ".aiff")  # what soundfile reads here


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file and the reason."""


def audio_info(path) -> tuple[int, int]:
    """Return (num_samples, sample_rate) from the header only, or raise AudioError."""
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises RuntimeError/LibsndfileError on non-audio
        raise AudioError(f"{path}: not a readable audio file ({_reason(e)})") from None
    return info.frames, info.samplerate


def load_audio(path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Load `path` as a float32 mono waveform (T,) at `sample_rate`, resampling if needed."""
    path = Path(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (T, channels)
    except Exception as e:
        raise AudioError(f"{path}: not a readable audio file ({_reason(e)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no samples")
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))  # (T,) down-mix
    if sr != sample_rate:
        wave = dsp.resample(wave, sr, sample_rate)
    return wave


def _reason(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__
