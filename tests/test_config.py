import pytest

from phonerec.config import ConfigError, load_config, save_config


def test_yaml_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  name: lstm\n  lstm_hidden: 64\ntrain:\n  lr: 1\n")
    cfg = load_config(f, ["train.epochs=3", "model.time_strides=[2, 2]"])
    assert cfg.model.name == "lstm" and cfg.model.lstm_hidden == 64
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)  # int accepted for float
    assert cfg.train.epochs == 3 and cfg.model.time_strides == [2, 2]
    assert cfg.data.train_phones == 48  # default kept


def test_unknown_key_and_wrong_type_are_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match="train.lrr"):
        load_config(f)
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(None, ["train.epochs=many"])
    with pytest.raises(ConfigError, match="amp"):
        load_config(None, ["train.amp=3"])


def test_saved_config_loads_back(tmp_path):
    cfg = load_config(None, ["model.name=cnn", "train.specaugment.time_masks=2"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
