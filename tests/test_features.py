import math

import numpy as np
import pytest
import soundfile as sf
import torch

from phonerec.augment import SpecAugment
from phonerec.config import FeatureConfig, SpecAugmentConfig
from phonerec.features import FeatureCache, FeatureError, check_compatible, compute_cmvn, extract, normalize


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


def test_speed_perturbation_lengths(manifest):
    cache = extract(manifest, FeatureConfig(), speeds=[0.9, 1.0, 1.1])
    assert cache.utt_ids[:3] == ["u0-sp0.9", "u0", "u0-sp1.1"]
    n = 16000
    assert cache.lengths[:3].tolist() == [1 + math.ceil(n / 0.9) // 160, 1 + n // 160, 1 + math.ceil(n / 1.1) // 160]


def test_cmvn_normalises_to_zero_mean_unit_variance(manifest):
    cache = extract(manifest, FeatureConfig())
    cmvn = compute_cmvn(cache)
    x = normalize(cache.feats, cmvn)
    assert torch.allclose(x.mean(0), torch.zeros(80), atol=1e-2)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(80), atol=1e-2)


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
    for i in range(4):  # masked bins are whole frequency columns / time rows, at most 2 x 10 each
        zero_cols = (y[i] == 0).all(0).sum().item()
        zero_rows = (y[i] == 0).all(1).sum().item()
        assert 0 <= zero_cols <= 20 and 0 <= zero_rows <= 20
    assert (y == 0).any() and (y == 1).any()
    assert torch.equal(SpecAugment(SpecAugmentConfig())(x), x)  # disabled: identity
