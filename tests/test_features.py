import math

import numpy as np
import pytest
import soundfile as sf
import torch

from phonerec.config import FeatureConfig, SpecAugmentConfig
from phonerec.features import fbank as fbank_module
from phonerec.features.audio import load_audio
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
    cache = extract(manifest, cfg, out=tmp_path / "fbank" / "train.pt")
    assert cache.utt_ids == ["u0", "u1"]
    assert cache.lengths.tolist() == [1 + 16000 // 160, 1 + 8000 // 160]  # centred 10 ms frames
    assert cache.n_frames == cache.lengths.sum().item() and cache.dim == 80
    x = cache.utterance(1)
    assert x.shape == (cache.lengths[1], 80) and x.dtype == torch.float16
    back = FeatureCache.load(tmp_path / "fbank" / "train.pt")
    assert back.utt_ids == cache.utt_ids and torch.equal(back.utterance(1), x)
    check_compatible(back, cfg, "c.pt")
    with pytest.raises(FeatureError, match="n_mels"):
        check_compatible(back, FeatureConfig(n_mels=40), "c.pt")


def test_the_cache_holds_the_frames_of_the_old_in_memory_extraction_bit_for_bit(timit_tree, tmp_path):
    """Catches any change of the numbers by the disk cache: every utterance's frames, speed copies
    included, are exactly what the single-file cache held, Fbank(resampled audio).to(float16)."""
    wavs = sorted(timit_tree.glob("TRAIN/DR1/*/S*.WAV"))[:6]
    assert len(wavs) == 6
    manifest = {f"{w.parent.name}_{w.stem}": {"wav": str(w), "duration": 1.0, "spk_id": "x", "phn": "h#"} for w in wavs}
    cfg, speeds = FeatureConfig(), [0.9, 1.0, 1.1]
    cache = extract(manifest, cfg, speeds, out=tmp_path / "train.pt")
    fbank, back, i = Fbank(cfg), FeatureCache.load(tmp_path / "train.pt"), 0
    for utt_id, row in manifest.items():
        wave = load_audio(row["wav"], 16000)
        for s in speeds:
            w = wave if s == 1.0 else fbank_module.dsp.resample(wave, round(16000 * s), 16000)
            with torch.no_grad():
                old = fbank(w).to(torch.float16)  # what extract appended to the one in-memory tensor
            assert cache.utt_ids[i] == (utt_id if s == 1.0 else f"{utt_id}-sp{s:g}")
            assert torch.equal(back.utterance(i), old), cache.utt_ids[i]
            i += 1
    assert i == len(cache.utt_ids)


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


def test_speed_perturbation_lengths(manifest, tmp_path):
    cache = extract(manifest, FeatureConfig(), speeds=[0.9, 1.0, 1.1], out=tmp_path / "train.pt")
    assert cache.utt_ids[:3] == ["u0-sp0.9", "u0", "u0-sp1.1"]
    n = 16000
    assert cache.lengths[:3].tolist() == [1 + math.ceil(n / 0.9) // 160, 1 + n // 160, 1 + math.ceil(n / 1.1) // 160]


def test_speed_factor_is_the_nearest_sample_rate(manifest, monkeypatch, tmp_path):
    """16000 x 1.15 is 18399.999... in floating point: truncating it played 1.15 as a 18399 Hz copy."""
    rates, real = [], fbank_module.dsp.resample
    monkeypatch.setattr(fbank_module.dsp, "resample", lambda w, a, b: rates.append((a, b)) or real(w, a, b))
    extract({"u0": manifest["u0"]}, FeatureConfig(), speeds=[0.9, 1.1, 1.15, 0.95], out=tmp_path / "train.pt")
    assert rates == [(14400, 16000), (17600, 16000), (18400, 16000), (15200, 16000)]


def test_cmvn_normalises_to_zero_mean_unit_variance(manifest, tmp_path):
    cache = extract(manifest, FeatureConfig(), out=tmp_path / "train.pt")
    cmvn = compute_cmvn(cache)
    x = normalize(torch.cat(list(cache.chunks())), cmvn)
    assert torch.allclose(x.mean(0), torch.zeros(80), atol=1e-2)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(80), atol=1e-2)


def test_cmvn_streams_in_blocks_and_gives_the_whole_corpus_figures(monkeypatch):
    """compute_cmvn never asks the cache for more than one block of frames, and its merged block
    statistics are those of all frames at once: exactly with one block (what the single-file cache
    computed), to float64 rounding with many (catches a wrong merge: a plain average of block means
    or variances is off by far more)."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([50, 300, 7, 1000, 121])
    feats = (torch.randn(int(lengths.sum()), 6, generator=g) * torch.arange(1, 7) - 3
             + torch.linspace(-2, 5, int(lengths.sum()))[:, None]).half()  # a drifting mean: blocks differ
    cache = FeatureCache([f"u{i}" for i in range(5)], lengths, feats, {})
    x = feats.double()
    whole_mean, whole_std = x.mean(0), x.var(0, unbiased=False).clamp_min(1e-8).sqrt()
    one = compute_cmvn(cache)
    assert one["mean"] == whole_mean.tolist() and one["std"] == whole_std.tolist() and one["n_frames"] == 1478
    asked = []
    real = cache.frames
    monkeypatch.setattr(cache, "frames", lambda start, n: asked.append(n) or real(start, n))
    blocks = compute_cmvn(cache, chunk_frames=100)
    assert max(asked) == 100 and sum(asked) == 1478
    assert torch.allclose(torch.tensor(blocks["mean"], dtype=torch.float64), whole_mean, rtol=1e-12, atol=0)
    assert torch.allclose(torch.tensor(blocks["std"], dtype=torch.float64), whole_std, rtol=1e-12, atol=0)
    assert blocks["n_frames"] == 1478


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
