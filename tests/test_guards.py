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

    from phonerec.experiment.train import why_retrain
    from phonerec.inference.model import load_model

    export_tiny_model(tmp_path)
    cfg = load_model(tmp_path, "cpu").config
    assert why_retrain(tmp_path, cfg) is None
    state = torch.load(tmp_path / "model.pt", weights_only=False)
    state["config"]["train"]["lr"] = "fast"  # a value no version of phonerec wrote
    torch.save(state, tmp_path / "model.pt")
    reason = why_retrain(tmp_path, cfg)
    assert reason and "holds a config this version cannot read" in reason and "train.lr" in reason


def test_resume_and_retrain_give_one_verdict_on_an_older_checkpoint(tmp_path):
    """A checkpoint (and model.pt) written before train.frame_weight existed: stage 3's up-to-date check
    and --resume both accept it with today's defaults, and both refuse a real change, naming it alike."""
    import pytest
    import torch

    from phonerec.experiment.train import why_retrain
    from phonerec.training.checkpoint import CheckpointError
    from phonerec.training.trainer import Trainer, TrainerConfig

    cfg = ExperimentConfig()
    old = to_dict(cfg)
    del old["train"]["frame_weight"]  # as an older phonerec wrote it
    batches = [(torch.randn(4, 2), torch.randn(4, 1))]

    def trainer(config: dict, epochs: int) -> Trainer:
        torch.manual_seed(0)
        m = torch.nn.Linear(2, 1)
        return Trainer(m, torch.optim.SGD(m.parameters(), lr=0.1),
                       lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]),
                       TrainerConfig(epochs=epochs, lr=0.1, monitor="train_loss"), ckpt_dir=tmp_path / "checkpoints",
                       extra={"config": config})

    trainer(old, 1).fit(batches)
    torch.save({"model": {}, "config": old}, tmp_path / "model.pt")
    assert why_retrain(tmp_path, cfg) is None
    assert trainer(to_dict(cfg), 2).resume()  # before: refused ("train.frame_weight" differs)
    cfg.train.lr = 2e-3
    assert "train.lr 0.001 -> 0.002" in why_retrain(tmp_path, cfg)
    with pytest.raises(CheckpointError, match=r"cannot resume.*train\.lr 0\.001 -> 0\.002"):
        trainer(to_dict(cfg), 2).resume()
