"""Per-model config sections: the recipe configs resolve as before, and configs and checkpoints
written with the old flat model section (phonerec up to commit 8b87a68) still load."""
import copy
from pathlib import Path

import pytest
import torch

from phonerec.config import (
    ExperimentConfig,
    ModelConfig,
    from_dict,
    load_config,
    normalize_config_dict,
    save_config,
    to_dict,
    training_diff,
)
from phonerec.decoding.ctc import greedy_decode
from phonerec.evaluation.report import _model_info
from phonerec.experiment.train import why_retrain
from phonerec.inference.model import load_model
from phonerec.model_config import MODEL_CONFIGS
from phonerec.models import MODELS, build_model, count_parameters
from phonerec.models.cnn import CNNConfig
from phonerec.models.crdnn import CRDNNConfig
from phonerec.models.lstm import LSTMConfig
from phonerec.phones import PhoneTokenizer
from phonerec.training import checkpoint
from phonerec.training.trainer import Trainer, TrainerConfig, adamw

CONF = Path(__file__).resolve().parents[1] / "recipes" / "timit" / "conf"

# `to_dict(load_config(None))` at commit 8b87a68 (the last flat model section), as dotted keys.
HEAD_DEFAULTS = {
    "features.sample_rate": 16000, "features.n_mels": 80, "features.win_ms": 25.0, "features.hop_ms": 10.0,
    "features.n_fft": 512, "features.speed_perturb": [1.0], "data.train_phones": 48, "data.max_frames": 12000,
    "data.valid_max_frames": 40000, "data.num_workers": 0, "model.name": "crdnn", "model.cnn_channels": [64, 128],
    "model.cnn_kernel": 3, "model.cnn_blocks": 4, "model.time_strides": [2, 1], "model.lstm_hidden": 256,
    "model.lstm_layers": 3, "model.proj_dim": 256, "model.dropout": 0.15, "train.epochs": 20, "train.lr": 0.001,
    "train.weight_decay": 0.01, "train.schedule": "cosine", "train.warmup_steps": 200, "train.plateau_factor": 0.0,
    "train.plateau_patience": 1, "train.early_stop_patience": 0, "train.grad_clip": 5.0, "train.amp": True,
    "train.seed": 0, "train.average": 0, "train.keep_checkpoints": 5, "train.max_bad_steps": 20,
    "train.specaugment.freq_masks": 0, "train.specaugment.freq_width": 15, "train.specaugment.time_masks": 0,
    "train.specaugment.time_width": 20, "decode.method": "greedy", "decode.beam": 16, "decode.lm_weight": 0.0,
    "decode.insertion_bonus": 0.0, "decode.blank_penalty": 0.0,
}
# What each recipe config resolved to at commit 8b87a68, where it differs from HEAD_DEFAULTS.
HEAD_CONFS = {
    "cnn.yaml": {"data.max_frames": 3000, "model.name": "cnn", "model.cnn_channels": [256, 256], "model.cnn_kernel": 5,
                 "model.cnn_blocks": 6, "train.lr": 0.002, "train.warmup_steps": 50},
    "crdnn.yaml": {"features.speed_perturb": [0.9, 1.0, 1.1], "data.max_frames": 40000, "data.valid_max_frames": 120000,
                   "model.cnn_channels": [128, 256], "model.lstm_hidden": 288, "model.lstm_layers": 4,
                   "model.proj_dim": 512, "train.epochs": 40, "train.lr": 0.0015, "train.warmup_steps": 500,
                   "train.average": 5, "train.specaugment.freq_masks": 2, "train.specaugment.time_masks": 2},
    "crdnn_quick.yaml": {"data.max_frames": 1500, "model.cnn_channels": [32, 64], "model.lstm_hidden": 192,
                         "model.lstm_layers": 2, "model.proj_dim": 192, "train.lr": 0.002, "train.warmup_steps": 50},
    "lstm.yaml": {"data.max_frames": 1500, "model.name": "lstm", "model.time_strides": [2], "model.lstm_hidden": 192,
                  "train.lr": 0.003, "train.warmup_steps": 50},
}
# The model sections those become (written out by hand, not by the converter under test).
EXPECTED_MODEL = {
    "cnn.yaml": {"name": "cnn", "cnn": {"cnn_channels": [256, 256], "cnn_kernel": 5, "cnn_blocks": 6,
                                        "time_strides": [2, 1], "dropout": 0.15}},
    "crdnn.yaml": {"name": "crdnn", "crdnn": {"cnn_channels": [128, 256], "cnn_kernel": 3, "time_strides": [2, 1],
                                              "lstm_hidden": 288, "lstm_layers": 4, "proj_dim": 512, "dropout": 0.15}},
    "crdnn_quick.yaml": {"name": "crdnn", "crdnn": {"cnn_channels": [32, 64], "cnn_kernel": 3, "time_strides": [2, 1],
                                                    "lstm_hidden": 192, "lstm_layers": 2, "proj_dim": 192,
                                                    "dropout": 0.15}},
    "lstm.yaml": {"name": "lstm", "lstm": {"frame_stack": 2, "lstm_hidden": 192, "lstm_layers": 3, "dropout": 0.15}},
}
# (trainable parameters, time subsampling) of each recipe model on 80 mels and 48 phones + blank,
# measured with the code of commit 8b87a68 (build_model + count_parameters) before the per-model sections.
HEAD_SIZES = {"cnn.yaml": (4385585, 2), "crdnn.yaml": (10297553, 2), "crdnn_quick.yaml": (1912849, 2),
              "lstm.yaml": (2338225, 2)}


def _nested(dotted: dict) -> dict:
    out: dict = {}
    for key, value in dotted.items():
        *path, last = key.split(".")
        node = out
        for k in path:
            node = node.setdefault(k, {})
        node[last] = copy.deepcopy(value)
    return out


def _head_dict(conf: str) -> dict:
    """The resolved config of `conf` exactly as commit 8b87a68 stored it in config.yaml and checkpoints."""
    return _nested({**HEAD_DEFAULTS, **HEAD_CONFS[conf]})


def _get(d: dict, dotted: str):
    for k in dotted.split("."):
        d = d[k]
    return d


# Deliberate changes since 8b87a68: the CRDNN configs train the frame head beside CTC (issue 11).
CHANGED_SINCE = {"crdnn.yaml": {"train.frame_weight": 0.5}, "crdnn_quick.yaml": {"train.frame_weight": 0.5}}


@pytest.mark.parametrize("conf", sorted(HEAD_CONFS))
def test_recipe_configs_resolve_to_the_values_they_had(conf):
    """Catches a recipe config (or a default) that silently changed while being moved to per-model sections."""
    assert sorted(p.name for p in CONF.glob("*.yaml")) == sorted(HEAD_CONFS)  # a new config: add it here
    resolved = to_dict(load_config(CONF / conf))
    for key, value in {**HEAD_DEFAULTS, **HEAD_CONFS[conf]}.items():
        if not key.startswith("model."):
            assert _get(resolved, key) == value, key
    assert resolved["model"] == EXPECTED_MODEL[conf]
    # the old converter agrees: a model trained with the flat form of this config is up to date with it
    assert normalize_config_dict(_head_dict(conf))["model"] == EXPECTED_MODEL[conf]
    # settings added since (train.frame_weight) take their defaults, as experiment.why_retrain reads old models
    old = to_dict(from_dict(ExperimentConfig, normalize_config_dict(_head_dict(conf), strict=False)))
    changed = CHANGED_SINCE.get(conf, {})
    assert training_diff(old, resolved) == sorted(changed)
    assert all(_get(resolved, key) == value for key, value in changed.items())


@pytest.mark.parametrize("conf", sorted(HEAD_SIZES))
def test_recipe_models_keep_their_size(conf):
    """Catches a model whose layers changed with its config: the trained models must stay the same."""
    cfg = load_config(CONF / conf)
    model = build_model(cfg.model, cfg.features.n_mels, len(PhoneTokenizer.for_set(cfg.data.train_phones)))
    assert (count_parameters(model), model.subsampling) == HEAD_SIZES[conf]


# Same sizes in the old flat form (every field, as HEAD's ModelConfig wrote it) and in today's form.
OLD_AND_NEW = {
    "crdnn": ({"cnn_channels": [4, 8], "time_strides": [2, 1], "lstm_hidden": 8, "lstm_layers": 1, "proj_dim": 8},
              CRDNNConfig(cnn_channels=[4, 8], time_strides=[2, 1], lstm_hidden=8, lstm_layers=1, proj_dim=8)),
    "cnn": ({"cnn_channels": [8, 8], "cnn_kernel": 5, "cnn_blocks": 1, "time_strides": [2, 2]},
            CNNConfig(cnn_channels=[8, 8], cnn_kernel=5, cnn_blocks=1, time_strides=[2, 2])),
    "lstm": ({"time_strides": [3], "lstm_hidden": 8, "lstm_layers": 2, "dropout": 0.0},
             LSTMConfig(frame_stack=3, lstm_hidden=8, lstm_layers=2, dropout=0.0)),
}


def _old_config(name: str) -> dict:
    """A config dict with the flat model section exactly as commit 8b87a68's ModelConfig produced it."""
    d = _head_dict("crdnn_quick.yaml")
    d["model"] = {k.split(".", 1)[1]: v for k, v in HEAD_DEFAULTS.items() if k.startswith("model.")}
    d["model"].update(name=name, **OLD_AND_NEW[name][0])
    return d


@pytest.mark.parametrize("name", sorted(OLD_AND_NEW))
def test_checkpoint_of_the_flat_format_loads_and_decodes(name, tmp_path):
    """Catches old model.pt files (and exp dirs) that no longer load, load into another model,
    or count as trained with another config."""
    tok = PhoneTokenizer.for_set(48)
    torch.manual_seed(0)
    model = build_model(ModelConfig(name, OLD_AND_NEW[name][1]), 16, len(tok)).eval()
    old = _old_config(name)
    assert len(old["model"]) == 9  # name + the 8 fields of the flat ModelConfig
    cmvn = {"mean": [0.0] * 16, "std": [1.0] * 16}
    checkpoint.save({"model": model.state_dict(), "config": old, "phones": tok.phones, "cmvn": cmvn},
                    tmp_path / "model.pt")

    loaded, cfg, tokenizer, _ = load_model(tmp_path, device="cpu")
    assert cfg.model == ModelConfig(name, OLD_AND_NEW[name][1]) and tokenizer.phones == tok.phones
    feats, lens = torch.randn(2, 40, 16), torch.tensor([40, 31])
    with torch.no_grad():
        want, got = model(feats, lens), loaded(feats, lens)
    assert torch.equal(want[0], got[0]) and torch.equal(want[1], got[1])
    assert greedy_decode(*got) == greedy_decode(*want)

    # up to date with the same config written today, and not with another one
    new = copy.deepcopy(cfg)
    assert why_retrain(tmp_path, new) is None
    before, new.model.conf.dropout = new.model.conf.dropout, 0.5
    assert f"model.{name}.dropout {before} -> 0.5" in why_retrain(tmp_path, new)


def test_old_checkpoint_with_an_ignored_setting_loads_but_the_same_yaml_is_refused(tmp_path):
    """An ignored flat field never shaped the weights, so a checkpoint keeps loading; in a config
    file it is an error saying how to convert, not a setting silently dropped."""
    old = _old_config("lstm")
    old["model"]["proj_dim"] = 512  # ignored by the lstm model
    tok = PhoneTokenizer.for_set(48)
    model = build_model(ModelConfig("lstm", OLD_AND_NEW["lstm"][1]), 80, len(tok))
    checkpoint.save({"model": model.state_dict(), "config": old, "phones": tok.phones,
                     "cmvn": {"mean": [0.0] * 80, "std": [1.0] * 80}}, tmp_path / "model.pt")
    assert load_model(tmp_path, device="cpu").config.model == ModelConfig("lstm", OLD_AND_NEW["lstm"][1])
    (tmp_path / "old.yaml").write_text("model:\n  name: lstm\n  proj_dim: 512\n")
    with pytest.raises(ValueError, match=r"model.proj_dim: 512 is not a setting of model 'lstm'.*"
                                         r"model: \{name: lstm, lstm: \{\.\.\.\}\}"):
        load_config(tmp_path / "old.yaml")
    (tmp_path / "old.yaml").write_text("model:\n  name: lstm\n  proj_dim: 256\n")  # the old default: dropped
    assert load_config(tmp_path / "old.yaml").model == ModelConfig("lstm")


def test_training_resumes_from_a_checkpoint_of_the_flat_format(tmp_path):
    """Catches --resume refusing (or mixing) a last.pt whose stored config is in the old form."""
    old, name = _old_config("lstm"), "lstm"
    new = copy.deepcopy(old)
    new["model"] = {"name": name, name: {"frame_stack": 3, "lstm_hidden": 8, "lstm_layers": 2, "dropout": 0.0}}

    def trainer(config):
        model = build_model(ModelConfig(name, OLD_AND_NEW[name][1]), 16, 5)
        return Trainer(model, adamw(model.parameters(), lr=1e-3), None, TrainerConfig(epochs=1, lr=1e-3),
                       ckpt_dir=tmp_path, extra={"config": config})

    trainer(old)._save_epoch(improved=True)  # last.pt as an old run wrote it
    assert trainer(new).resume()
    new["model"][name]["lstm_layers"] = 1
    with pytest.raises(checkpoint.CheckpointError, match="model.lstm.lstm_layers 2 -> 1"):
        trainer(new).resume()


def test_the_models_and_their_settings_are_registered_under_the_same_names():
    """Catches a model added to MODELS without its dataclass in model_config.MODEL_CONFIGS (the config, which
    reads them without torch, would call it unknown) or with a Config other than the one the config builds."""
    assert sorted(MODEL_CONFIGS) == sorted(MODELS)
    assert all(MODELS[name].Config is MODEL_CONFIGS[name] for name in MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_has_a_typed_config_section(name, tmp_path):
    """Catches a model added without its config dataclass, or one whose section does not round-trip."""
    cfg = load_config(None, [f"model.name={name}"])
    assert isinstance(cfg.model.conf, MODELS[name].Config)
    assert to_dict(cfg)["model"] == {"name": name, name: to_dict(cfg.model.conf)}
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    assert build_model(cfg.model, 16, 5).subsampling >= 1


def test_report_describes_any_model_from_either_format(tmp_path):
    """Catches report.py knowing model fields by name (blank or wrong for a new model or format)."""
    import yaml

    cfg = ExperimentConfig(model=ModelConfig("lstm", OLD_AND_NEW["lstm"][1]))
    save_config(cfg, tmp_path / "config.yaml")
    info = _model_info(tmp_path)
    assert info == "lstm (frame_stack 3, lstm_hidden 8, lstm_layers 2, dropout 0.0), 48 output phones, 20 epochs"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_old_config("lstm")))  # an exp dir of before
    assert _model_info(tmp_path) == info
