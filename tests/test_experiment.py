"""Training-data checks done before training starts."""
import pytest
import torch

from phonerec.config import ModelConfig
from phonerec.data import PhoneDataset
from phonerec.experiment import drop_unalignable
from phonerec.features import FeatureCache
from phonerec.models import build_model
from phonerec.phones import PhoneTokenizer

TINY = dict(cnn_channels=[4, 4], time_strides=[2, 2], lstm_hidden=8, lstm_layers=1, proj_dim=8, cnn_blocks=1)


@pytest.mark.parametrize("name", ["crdnn", "cnn", "lstm"])
def test_output_lengths_match_the_forward_pass(name):
    model = build_model(ModelConfig(name=name, **TINY), 16, 5).eval()
    lens = torch.tensor([40, 23, 22, 21, 20, 5, 1])
    with torch.no_grad():
        log_probs, out_lens = model(torch.randn(len(lens), 40, 16), lens)
    assert torch.equal(out_lens, model.output_lengths(lens))
    assert log_probs.shape[1] == int(out_lens.max())
    assert out_lens.tolist() == [10, 6, 6, 6, 5, 2, 1]  # ceil(T / 4) for stride-2 k3 convs and stacking


@pytest.mark.parametrize("name", ["crdnn", "lstm"])
def test_utterances_too_short_for_ctc_are_reported_and_excluded(caplog, name):
    # 6 target phones (sil s ih k s sil, no repeats) need 6 output frames; 4x subsampling gives
    # 22 -> 6 frames (kept, though 22 // 4 = 5) and 20 -> 5 frames (excluded)
    ids = ["u_ok", "u_edge", "u_short"]
    lengths = torch.tensor([40, 22, 20])
    cache = FeatureCache(ids, lengths, torch.zeros(82, 4, dtype=torch.float16), {})
    manifest = {u: {"phn": "h# s ih k s h#"} for u in ids}
    cmvn = {"mean": [0.0] * 4, "std": [1.0] * 4}
    ds = PhoneDataset(cache, manifest, PhoneTokenizer.for_set(48), 48, cmvn)
    model = build_model(ModelConfig(name=name, **TINY), 4, 49)
    with caplog.at_level("WARNING"):
        dropped = drop_unalignable(ds, model, split="train")
    assert dropped == ["u_short"] and ds.utt_ids == ["u_ok", "u_edge"] and len(ds) == 2
    assert "u_short" in caplog.text and "too short for CTC" in caplog.text
    feats, target, utt = ds[1]
    assert utt == "u_edge" and feats.shape == (22, 4) and len(target) == 6
