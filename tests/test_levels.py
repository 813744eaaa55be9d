"""features.levels: the warnings for silent, clipped, band-limited and mis-levelled recordings."""
import math

import pytest
import torch

from phonerec.config import FeatureConfig
from phonerec.features.fbank import Fbank
from phonerec.features.levels import level_offset, level_problem, signal_problems


def _noise(seconds=2.0, scale=0.1, seed=0):
    """Full-band noise with a speech-like 1/f tilt, 16 kHz."""
    x = torch.randn(int(16000 * seconds), generator=torch.Generator().manual_seed(seed))
    tilt = torch.fft.rfftfreq(len(x), 1 / 16000).clamp(min=100) ** -0.5
    y = torch.fft.irfft(torch.fft.rfft(x) * tilt, n=len(x))
    return scale * y / y.pow(2).mean().sqrt() / 4  # rms scale / 4: peaks near scale


def test_an_ordinary_recording_gets_no_warning():
    assert signal_problems(_noise(), 16000, 16000) == []
    assert signal_problems(_noise(), 16000, 44100) == []


def test_digital_silence_clipping_and_band_limits_are_named():
    assert signal_problems(torch.zeros(16000), 16000, 16000)[0].startswith("is digital silence (peak -inf dBFS)")
    assert "digital silence" in signal_problems(1e-5 * _noise(), 16000, 16000)[0]
    clipped = signal_problems((20 * _noise()).clamp(-1, 1), 16000, 16000)
    assert len(clipped) == 1 and clipped[0].startswith("is clipped (")
    spectrum = torch.fft.rfft(_noise())
    spectrum[torch.fft.rfftfreq(32000, 1 / 16000) > 4000] = 0
    narrow = torch.fft.irfft(spectrum, n=32000)  # 8 kHz audio upsampled: nothing above 4 kHz
    assert signal_problems(narrow, 16000, 8000) == [
        "was recorded at 8000 Hz: nothing above 4000 Hz, which the model (16000 Hz) expects; expect more errors"]
    hidden = signal_problems(narrow, 16000, 16000)  # upsampled before it reached us: found in the spectrum
    assert len(hidden) == 1 and hidden[0].startswith("has no energy above 4.5 kHz")


def test_level_offset_measures_the_gain_in_nats():
    fbank = Fbank(FeatureConfig())
    reference = fbank(_noise()).mean(0)  # the "training corpus" mean per bin
    assert abs(level_offset(fbank(_noise(seed=1)), reference)) < 0.2
    for db in (-10, -20, 10):
        gain = 10 ** (db / 20)
        assert level_offset(fbank(gain * _noise(seed=1)), reference) == \
            pytest.approx(db * math.log(10) / 10, abs=0.3)
    padded = torch.cat([torch.zeros(48000), _noise(seed=1), torch.zeros(48000)])  # digital silence is left out
    assert abs(level_offset(fbank(padded), reference)) < 0.3
    assert level_offset(fbank(torch.zeros(16000)), reference) is None


def test_level_warning_only_far_outside_the_normal_range():
    assert level_problem(None) == [] and level_problem(2.5) == [] and level_problem(-4.9) == []
    assert level_problem(-6.9) == ["is about 30 dB quieter than the training recordings: expect more errors "
                                   "(scale it to a normal level)"]
    assert "louder" in level_problem(6.0)[0]
