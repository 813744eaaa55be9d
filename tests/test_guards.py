"""Guards against stale results: a config diff names the training keys, the LM follows its manifest."""
import json

from phonerec.config import ExperimentConfig, describe_diff, to_dict, training_diff
from phonerec.decoding.lm import BigramLM, load_or_estimate
from phonerec.phones import PHONES_48


def test_training_diff_names_training_keys_only():
    old = to_dict(ExperimentConfig())
    new = to_dict(ExperimentConfig())
    new["train"]["lr"], new["model"]["crdnn"]["lstm_layers"] = 5e-4, 4
    new["decode"]["beam"], new["data"]["num_workers"], new["data"]["valid_max_frames"] = 4, 2, 999
    keys = training_diff(old, new)
    assert keys == ["model.crdnn.lstm_layers", "train.lr"]
    assert describe_diff(old, new, keys) == "model.crdnn.lstm_layers 3 -> 4, train.lr 0.001 -> 0.0005"
    assert training_diff(old, old) == []
    del new["train"]["specaugment"]  # a key missing from one side (an older format) is a difference
    assert "train.specaugment" in training_diff(old, new)


def test_lm_is_re_estimated_when_the_train_manifest_changes(tmp_path, caplog):
    manifest, path = tmp_path / "train.json", tmp_path / "exp" / "lm_bigram.json"
    manifest.write_text(json.dumps({"s_1": {"phn": "h# sh iy h#"}}))
    first = load_or_estimate(path, manifest, list(PHONES_48))
    assert first.prob("iy", "sh") > 0.5
    # the same manifest: the saved LM is used as it is
    assert load_or_estimate(path, manifest, list(PHONES_48)).info["source_sha256"] == first.info["source_sha256"]
    # another corpus (e.g. real TIMIT after the synthetic one): a new LM, from the new manifest
    manifest.write_text(json.dumps({"s_1": {"phn": "h# s ow h#"}, "s_2": {"phn": "h# s ow h#"}}))
    second = load_or_estimate(path, manifest, list(PHONES_48))
    assert "another training manifest" in caplog.text
    assert second.info["n_sentences"] == 2 and second.prob("ow", "s") > 0.5 and second.prob("iy", "sh") < 0.1
    assert BigramLM.load(path).info["source_sha256"] == second.info["source_sha256"] != first.info["source_sha256"]


def test_model_whose_stored_config_cannot_be_read_is_not_up_to_date(tmp_path):
    """why_retrain says why (instead of swallowing the error) when model.pt's config is unreadable today."""
    import torch
    from conftest import export_tiny_model

    from phonerec.experiment.train import load_model, why_retrain

    export_tiny_model(tmp_path)
    cfg = load_model(tmp_path, "cpu")[1]
    assert why_retrain(tmp_path, cfg) is None
    state = torch.load(tmp_path / "model.pt", weights_only=False)
    state["config"]["train"]["lr"] = "fast"  # a value no version of phonerec wrote
    torch.save(state, tmp_path / "model.pt")
    reason = why_retrain(tmp_path, cfg)
    assert reason and "holds a config this version cannot read" in reason and "train.lr" in reason
