"""Every torchaudio call of phonerec, in one file.

torchaudio is in maintenance mode (its last release pairs with torch 2.11), so moving to a newer
torch, or replacing torchaudio, is a change of this module only. torchaudio is imported on first
use; when its compiled library does not load with the installed torch (torchaudio 2.11.1 with
torch 2.11.0 is the usual case) the error is one line that names both versions and the fix.
"""
from __future__ import annotations

import functools
from importlib import metadata

import torch

from phonerec.errors import DependencyError

TESTED = {"torch": "2.11.0", "torchaudio": "2.11.0"}  # the pair requirements.lock installs


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def torchaudio():
    """The torchaudio module, or a one-line DependencyError when it cannot be loaded."""
    try:
        import torchaudio as ta
        import torchaudio.functional  # noqa: F401  (loads the compiled extension)
    except (ImportError, OSError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise DependencyError(
            f"torchaudio {_version('torchaudio')} cannot be loaded with torch {torch.__version__} ({reason}); "
            f"install the tested pair: pip install torch=={TESTED['torch']} torchaudio=={TESTED['torchaudio']} "
            f"(`make install` does, from requirements.lock)") from None
    return ta


def mel_spectrogram(sample_rate: int, n_fft: int, win_length: int, hop_length: int, n_mels: int) -> torch.nn.Module:
    """Power mel spectrogram module: (..., T) -> (..., n_mels, frames), HTK mel scale, centred frames."""
    return torchaudio().transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, win_length=win_length,
                                                  hop_length=hop_length, n_mels=n_mels, power=2.0)


def resample(wave: torch.Tensor, orig_freq: int, new_freq: int) -> torch.Tensor:
    """Band-limited (sinc) resampling along the last dimension."""
    return torchaudio().functional.resample(wave, orig_freq, new_freq)


def microphone(wave: torch.Tensor, sample_rate: int, kind: str) -> torch.Tensor:
    """`wave` as another microphone or room would colour it (scripts/level_effects.py's channel conditions):
    bright (first difference, 0.97: +6 dB per octave), dull (one-pole low-pass, 0.9), presence (+8 dB peak
    at 3 kHz), band (high-pass 300 Hz and low-pass 4 kHz, a small handset's)."""
    f = torchaudio().functional
    if kind == "bright":
        return torch.cat([wave[..., :1], wave[..., 1:] - 0.97 * wave[..., :-1]], -1)
    if kind == "dull":
        return f.lfilter(wave, torch.tensor([1.0, -0.9]), torch.tensor([0.1, 0.0]), clamp=False)
    if kind == "presence":
        return f.equalizer_biquad(wave, sample_rate, 3000.0, 8.0, 1.0)
    if kind == "band":
        return f.lowpass_biquad(f.highpass_biquad(wave, sample_rate, 300.0), sample_rate, 4000.0)
    raise ValueError(f"unknown microphone {kind!r} (bright, dull, presence, band)")


def frequency_masking(max_width: int) -> torch.nn.Module:
    """SpecAugment frequency mask on (N, 1, F, T), drawn independently per utterance."""
    return torchaudio().transforms.FrequencyMasking(max_width, iid_masks=True)


def time_masking(max_width: int) -> torch.nn.Module:
    """SpecAugment time mask on (N, 1, F, T), drawn independently per utterance."""
    return torchaudio().transforms.TimeMasking(max_width, iid_masks=True)


def forced_align(log_probs: torch.Tensor, targets: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """CTC Viterbi alignment: log_probs (1, T, C), targets (1, L) int32 -> frame labels (T,)."""
    path, _ = torchaudio().functional.forced_align(log_probs, targets, blank=blank)
    return path[0]
