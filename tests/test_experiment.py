"""Training-data checks done before training starts."""
import torch

from phonerec.experiment import drop_unalignable
from phonerec.data import PhoneDataset
from phonerec.features import FeatureCache
from phonerec.phones import PhoneTokenizer


def test_utterances_too_short_for_ctc_are_reported_and_excluded(caplog):
    # u_ok: 40 frames for 6 phones; u_short: 8 frames, after 4x subsampling 2 frames for 6 phones
    lengths = torch.tensor([40, 8])
    cache = FeatureCache(["u_ok", "u_short"], lengths, torch.zeros(48, 4, dtype=torch.float16), {})
    manifest = {u: {"phn": "h# s ih k s h#"} for u in ("u_ok", "u_short")}
    cmvn = {"mean": [0.0] * 4, "std": [1.0] * 4}
    ds = PhoneDataset(cache, manifest, PhoneTokenizer.for_set(48), 48, cmvn)
    with caplog.at_level("WARNING"):
        dropped = drop_unalignable(ds, subsampling=4, split="train")
    assert dropped == ["u_short"] and ds.utt_ids == ["u_ok"] and len(ds) == 1
    assert "u_short" in caplog.text and "too short for CTC" in caplog.text
    feats, target, utt = ds[0]
    assert utt == "u_ok" and feats.shape == (40, 4) and len(target) == 6
