import pytest

from phonerec.config import ConfigError, ModelConfig, load_config, save_config
from phonerec.models.lstm import LSTMConfig


def test_yaml_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  name: lstm\n  lstm:\n    lstm_hidden: 64\ntrain:\n  lr: 1\n")
    cfg = load_config(f, ["train.epochs=3", "model.lstm.frame_stack=4"])
    assert cfg.model == ModelConfig("lstm", LSTMConfig(lstm_hidden=64, frame_stack=4))
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)  # int accepted for float
    assert cfg.train.epochs == 3
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


def test_model_sections_are_strict():
    """Each model's settings are typed and checked like the other sections, under the model's name."""
    with pytest.raises(ConfigError, match=r"'model.crdnn.lstm_hiden'.*known: cnn_channels"):
        load_config(None, ["model.crdnn.lstm_hiden=3"])
    with pytest.raises(ConfigError, match=r"model.crdnn.cnn_channels\[1\]' expects int"):
        load_config(None, ["model.crdnn.cnn_channels=[8, 8.5]"])
    with pytest.raises(ConfigError, match="unknown model 'rnn'"):
        load_config(None, ["model.name=rnn"])
    with pytest.raises(ConfigError, match="'model.conf'"):
        load_config(None, ["model.conf.lstm_hidden=3"])
    # a setting of another model is an error, not ignored; the section can be dropped explicitly
    with pytest.raises(ConfigError, match=r"model.crdnn: settings of model 'crdnn', but model.name is 'lstm'"):
        load_config(None, ["model.crdnn.lstm_hidden=3", "model.name=lstm"])
    assert load_config(None, ["model.crdnn.lstm_hidden=3", "model.name=lstm", "model.crdnn=null"]).model.name == "lstm"
    with pytest.raises(ConfigError, match="model.crdnn: cnn_channels .3 blocks. and time_strides .2."):
        load_config(None, ["model.crdnn.cnn_channels=[8, 8, 8]"])


def test_flat_model_section_of_older_configs_is_converted(tmp_path, caplog):
    """An old YAML (and old-style --set) still loads, into the same model, and the log says the new form."""
    f = tmp_path / "old.yaml"
    f.write_text("model:\n  name: lstm\n  lstm_hidden: 64\n  cnn_blocks: 4\n")  # cnn_blocks: ignored, old default
    cfg = load_config(f, ["model.time_strides=[2, 2]"])
    assert cfg.model == ModelConfig("lstm", LSTMConfig(lstm_hidden=64, frame_stack=4))  # stacking = product
    assert "model: {name: lstm, lstm: {lstm_hidden: 64, frame_stack: 4}}" in caplog.text
    # an old-style override on a new-style file: converted, unless it says the same key twice
    new = tmp_path / "new.yaml"
    new.write_text("model:\n  name: crdnn\n  crdnn:\n    lstm_hidden: 64\n")
    assert load_config(new, ["model.proj_dim=32"]).model.conf.proj_dim == 32
    with pytest.raises(ConfigError, match=r"model.lstm_hidden \(the old flat form\) and model.crdnn.lstm_hidden"):
        load_config(new, ["model.lstm_hidden=32"])
    # a field the model never read is dropped only when it has its old default
    with pytest.raises(ConfigError, match=r"model.cnn_blocks: 2 is not a setting of model 'crdnn'.*"
                                          r"model: \{name: crdnn, crdnn: \{\.\.\.\}\}"):
        load_config(None, ["model.cnn_blocks=2"])


def test_saved_config_loads_back(tmp_path):
    cfg = load_config(None, ["model.name=cnn", "model.cnn.cnn_blocks=2", "train.specaugment.time_masks=2"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    assert "  cnn:\n    cnn_channels:" in (tmp_path / "c.yaml").read_text()


def test_every_shipped_config_loads():
    """A misspelt key in a recipe's YAML (decode: blank_penaly) must fail here, not in a 50-minute run."""
    from pathlib import Path

    confs = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*/conf/*.yaml"))
    assert len(confs) >= 4  # timit and speechocean762
    for path in confs:
        cfg = load_config(path)
        assert cfg.model.name in ("cnn", "lstm", "crdnn"), path


def test_a_sample_rate_other_than_16k_is_refused_not_silently_misaligned():
    """Manifests, .PHN files and relabelled ends count 16 kHz samples; frames at another rate would put every
    frame label and boundary in the wrong place without an error."""
    with pytest.raises(ConfigError, match="features.sample_rate must be 16000"):
        load_config(None, ["features.sample_rate=8000"])
    assert load_config(None, ["features.sample_rate=16000"]).features.sample_rate == 16000


@pytest.mark.parametrize("bad", ["['0.9 1.0 1.1']", "[]", "[0, 1.0]", "[-0.9, 1.0]", "[1.0, 1.0]", "[true]"])
def test_speed_perturb_must_be_distinct_positive_speeds(bad):
    """A mistyped list (the English recipe's --exact-speeds with spaces) failed only inside resampling, or made
    no copies at all, or the same utterance id twice in the cache."""
    with pytest.raises(ConfigError, match="features.speed_perturb must be a list of distinct positive speeds"):
        load_config(None, [f"features.speed_perturb={bad}"])


def test_speed_perturb_whole_numbers_are_the_same_setting_as_floats():
    assert load_config(None, ["features.speed_perturb=[1, 1.1]"]).features.speed_perturb == [1.0, 1.1]
