import math

import numpy as np
import pytest
import soundfile as sf
import torch

from phonerec.config import FeatureConfig, SpecAugmentConfig
from phonerec.features.augment import SpecAugment
from phonerec.features.fbank import (
    Fbank,
    FeatureCache,
    FeatureError,
    check_compatible,
    compute_cmvn,
    extract,
    normalize,
    recenter,
)


@pytest.fixture
def manifest(tmp_path):
    rows = {}
    rng = np.random.default_rng(0)
    for i, seconds in enumerate([1.0, 0.5]):
        path = tmp_path / f"u{i}.wav"
        t = np.arange(int(16000 * seconds)) / 16000
        sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(len(t)), 16000)
        rows[f"u{i}"] = {"wav": str(path), "duration": seconds, "spk_id": "x", "phn": "h#"}
    return rows


def test_fbank_frames_and_cache_round_trip(manifest, tmp_path):
    cfg = FeatureConfig()
    cache = extract(manifest, cfg)
    assert cache.utt_ids == ["u0", "u1"]
    assert cache.lengths.tolist() == [1 + 16000 // 160, 1 + 8000 // 160]  # centred 10 ms frames
    assert cache.feats.shape == (cache.lengths.sum().item(), 80) and cache.feats.dtype == torch.float16
    cache.save(tmp_path / "c.pt")
    back = FeatureCache.load(tmp_path / "c.pt")
    assert back.utt_ids == cache.utt_ids and torch.equal(back.feats, cache.feats)
    check_compatible(back, cfg, "c.pt")
    with pytest.raises(FeatureError, match="n_mels"):
        check_compatible(back, FeatureConfig(n_mels=40), "c.pt")


def _mel_centres(cfg: FeatureConfig) -> np.ndarray:
    """Centre frequency (Hz) of each of the n_mels triangular filters: n_mels + 2 points equally
    spaced on the HTK mel scale, mel(f) = 2595 log10(1 + f / 700), from 0 Hz to Nyquist
    (torchaudio's MelSpectrogram defaults); filter k peaks at point k + 1."""
    mel = 2595 * np.log10(1 + cfg.sample_rate / 2 / 700)
    return (700 * (10 ** (np.linspace(0, mel, cfg.n_mels + 2) / 2595) - 1))[1:-1]


def _tone(freq, seconds=0.5, amplitude=0.5, sr=16000, start=0.0):
    t = np.arange(int(sr * seconds)) / sr
    return torch.tensor(np.where(t >= start, amplitude * np.sin(2 * np.pi * freq * t), 0.0), dtype=torch.float32)


@pytest.mark.parametrize("k", [15, 30, 45, 60, 75])
def test_pure_tone_peaks_in_its_mel_bin(k):
    cfg = FeatureConfig()
    centres = _mel_centres(cfg)
    fbank = Fbank(cfg)
    x = fbank(_tone(centres[k]))  # (frames, n_mels)
    assert x.shape == (1 + 8000 // 160, cfg.n_mels)
    peak = x[2:-2].argmax(1)  # every frame whose window lies inside the tone
    assert peak.tolist() == [k] * len(peak), f"{centres[k]:.1f} Hz should peak in mel bin {k}"
    # log of the *power*: twice the amplitude is 4x the power, + log 4 in every bin it dominates
    louder = fbank(_tone(centres[k], amplitude=1.0))
    assert (louder[2:-2, k] - x[2:-2, k]).tolist() == pytest.approx([math.log(4)] * len(peak), abs=1e-3)


def test_tone_onset_is_at_the_frame_it_starts_in():
    # frame t is centred on sample 160 t with a 400-sample window: a tone from sample 4000
    # (frame 25) is absent from frames <= 23 and fills the window of frames >= 27
    cfg = FeatureConfig()
    k = 40
    x = Fbank(cfg)(_tone(_mel_centres(cfg)[k], start=0.25))[:, k]
    assert x[:24].max() < x[27:].min() - 10
    assert x[27:-2].max() - x[27:-2].min() < 0.5


def test_speed_perturbation_lengths(manifest):
    cache = extract(manifest, FeatureConfig(), speeds=[0.9, 1.0, 1.1])
    assert cache.utt_ids[:3] == ["u0-sp0.9", "u0", "u0-sp1.1"]
    n = 16000
    assert cache.lengths[:3].tolist() == [1 + math.ceil(n / 0.9) // 160, 1 + n // 160, 1 + math.ceil(n / 1.1) // 160]


def test_speed_factor_is_the_nearest_sample_rate(manifest, monkeypatch):
    """16000 x 1.15 is 18399.999... in floating point: truncating it played 1.15 as a 18399 Hz copy."""
    from phonerec.features import fbank as fbank_module
    rates, real = [], fbank_module.dsp.resample
    monkeypatch.setattr(fbank_module.dsp, "resample", lambda w, a, b: rates.append((a, b)) or real(w, a, b))
    extract({"u0": manifest["u0"]}, FeatureConfig(), speeds=[0.9, 1.1, 1.15, 0.95])
    assert rates == [(14400, 16000), (17600, 16000), (18400, 16000), (15200, 16000)]


def test_cmvn_normalises_to_zero_mean_unit_variance(manifest):
    cache = extract(manifest, FeatureConfig())
    cmvn = compute_cmvn(cache)
    x = normalize(cache.feats, cmvn)
    assert torch.allclose(x.mean(0), torch.zeros(80), atol=1e-2)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(80), atol=1e-2)


def test_recenter_takes_out_a_per_bin_offset_of_each_utterance_and_ignores_digital_silence():
    """features.cmvn: utterance. A microphone or gain adds a constant to each log-mel bin of a recording:
    after recenter each utterance's sound frames have the target mean whatever was added, padding with
    digital silence (the log floor) does not move them, and an all-silence utterance stays as it was."""
    from phonerec.features.fbank import LOG_FLOOR
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 4, generator=g) - 3, torch.randn(30, 4, generator=g) + 2
    mean = torch.tensor([0.5, -1.0, 2.0, 0.0])
    out = recenter(torch.cat([a, b]), [50, 30], mean)
    assert torch.allclose(out[:50].mean(0), mean, atol=1e-5) and torch.allclose(out[50:].mean(0), mean, atol=1e-5)
    assert torch.allclose(out[:50] - out[:50].mean(0), a - a.mean(0), atol=1e-5)  # only shifted
    channel = torch.tensor([4.0, -2.0, 0.5, 7.0])  # a per-bin colouring of the first recording only
    assert torch.allclose(recenter(torch.cat([a + channel, b]), [50, 30], mean), out, atol=1e-5)
    floor = torch.full((40, 4), LOG_FLOOR)
    padded = recenter(torch.cat([floor, a, floor[:10]]), [100], mean)
    assert torch.allclose(padded[40:90], out[:50], atol=1e-5)
    assert torch.equal(recenter(floor, [40], mean), floor)
    assert torch.equal(normalize(torch.cat([a, b]), {"mean": mean.tolist(), "std": [2.0] * 4}, [50, 30]),
                       (out - mean) / 2)


def test_corrupt_cache_is_reported(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(FeatureError, match="bad.pt: corrupt feature cache"):
        FeatureCache.load(tmp_path / "bad.pt")
    with pytest.raises(FeatureError, match="not found"):
        FeatureCache.load(tmp_path / "missing.pt")


def test_specaugment_keeps_shape_and_masks_bands():
    torch.manual_seed(0)
    aug = SpecAugment(SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=2, time_width=10))
    x = torch.ones(4, 200, 80)
    y = aug(x)
    assert y.shape == x.shape
    col_sets = set()
    for i in range(4):  # every zero lies in a masked frequency column or time row, at most 2 x 10 each
        cols, rows = (y[i] == 0).all(0), (y[i] == 0).all(1)
        assert torch.equal(y[i] == 0, cols[None, :] | rows[:, None])
        assert cols.sum().item() <= 20 and rows.sum().item() <= 20
        col_sets.add(tuple(cols.tolist()))
    assert len(col_sets) > 1  # masks are drawn per utterance
    assert (y == 0).any() and (y == 1).any()
    assert torch.equal(SpecAugment(SpecAugmentConfig())(x), x)  # disabled: identity


@pytest.mark.parametrize("axis", ["freq", "time"])
def test_specaugment_masks_the_axis_it_is_asked_to(axis):
    torch.manual_seed(0)
    cfg = SpecAugmentConfig(freq_masks=3, freq_width=20) if axis == "freq" else SpecAugmentConfig(time_masks=3, time_width=20)
    y = SpecAugment(cfg)(torch.ones(8, 200, 80))
    zero_cols = (y == 0).all(1).sum().item()  # (N, F): whole mel bins masked
    zero_rows = (y == 0).all(2).sum().item()  # (N, T): whole frames masked
    if axis == "freq":
        assert zero_cols > 0 and zero_rows == 0
    else:
        assert zero_rows > 0 and zero_cols == 0
