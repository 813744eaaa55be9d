"""Experiment configuration: one dataclass per concern, YAML files, strict `a.b=c` overrides.

An unknown key or a value of the wrong type is an error that names the key, so a typo
in a YAML file never silently trains the default model.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from phonerec.fileio import write_text
from phonerec.model_config import MODEL_CONFIGS

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


@dataclass
class FeatureConfig:
    # audio is resampled to this rate before analysis. Only 16000: manifests, .PHN files and relabelled
    # ends count time in 16 kHz samples, and frame labels compare them with frames (refused otherwise)
    sample_rate: int = 16000
    n_mels: int = 80  # log-mel filterbank bins
    win_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # frame shift
    n_fft: int = 512  # FFT size (window zero-padded to it)
    speed_perturb: list = field(default_factory=lambda: [1.0])  # train copies made once at caching time
    # global: the train set's CMVN only. utterance: each utterance's own per-bin mean (over its sound frames)
    # is first moved to the train set's, so a microphone's colouring or a recording's level is taken out.
    # Not a feature-cache setting: the cache does not depend on it (config.flat_settings leaves it out)
    cmvn: str = field(default="global", repr=False)

    def __post_init__(self):
        if self.sample_rate != 16000:
            raise ValueError(f"features.sample_rate must be 16000 (the time unit of manifests, .PHN files and "
                             f"frame labels), got {self.sample_rate}: audio at other rates is resampled to it")
        if self.cmvn not in ("global", "utterance"):
            raise ValueError(f"features.cmvn must be global or utterance, got {self.cmvn!r}")
        speeds = self.speed_perturb
        if not (isinstance(speeds, list) and speeds  # numbers first: then the set can hash them
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in speeds)
                and len(set(speeds)) == len(speeds)):
            raise ValueError(f"features.speed_perturb must be a list of distinct positive speeds such as "
                             f"[0.9, 1.0, 1.1], got {speeds!r}")
        self.speed_perturb = [float(x) for x in speeds]  # [1] and [1.0] are one setting


@dataclass
class DataConfig:
    train_phones: int = 48  # phone set the model outputs: 61 or 48 (scoring is always on 39)
    max_frames: int = 12000  # padded input frames per training batch (batch size adapts to length)
    valid_max_frames: int = 40000  # larger batches for dev/test: no gradients are kept
    num_workers: int = 0  # DataLoader workers; features are in memory so 0 is usually fastest


@dataclass
class SpecAugmentConfig:
    freq_masks: int = 0  # number of frequency masks per utterance (0 disables)
    freq_width: int = 15  # maximum width of a frequency mask, in mel bins
    time_masks: int = 0  # number of time masks per utterance (0 disables)
    time_width: int = 20  # maximum width of a time mask, in frames


@dataclass
class ModelConfig:
    """Which acoustic model, and its settings. In a config file: `model: {name: crdnn, crdnn: {...}}`.

    The settings sit under the model's name, so a key says which model it is for
    (`--set model.crdnn.lstm_hidden=128`) and a setting of another model is an error, not silently
    ignored. Their dataclasses are in `phonerec.model_config` (MODEL_CONFIGS[name], which is
    `phonerec.models.MODELS[name].Config`), so adding a model touches no code here and reading a
    config needs no torch. In Python the settings are `.conf`.
    """
    name: str = "crdnn"  # a key of phonerec.models.MODELS (and model_config.MODEL_CONFIGS): cnn, lstm, crdnn
    conf: object = None  # that model's Config dataclass (None: its defaults)

    def __post_init__(self):
        config_class = _model_config(self.name, "model.name")
        if self.conf is None:
            self.conf = config_class()
        elif not isinstance(self.conf, config_class):
            raise ConfigError(f"model {self.name!r} takes a {config_class.__name__}, got {type(self.conf).__name__}")

    @classmethod
    def from_dict(cls, values, where: str = "model") -> "ModelConfig":
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
        name = _coerce(str, values.get("name", cls.name), f"{where}.name")
        config_class = _model_config(name, f"{where}.name")
        for key, value in values.items():
            if key in ("name", name) or (key in MODEL_CONFIGS and value is None):  # `--set model.cnn=null` drops it
                continue
            if key in MODEL_CONFIGS:
                raise ConfigError(f"{where}.{key}: settings of model {key!r}, but {where}.name is {name!r} "
                                  f"(put them under {where}.{name}, or drop them: --set {where}.{key}=null)")
            raise ConfigError(f"unknown config key '{where}.{key}' (known: name, {name})")
        return cls(name, from_dict(config_class, values.get(name) or {}, f"{where}.{name}"))

    def to_dict(self) -> dict:
        return {"name": self.name, self.name: dataclasses.asdict(self.conf)}

    def describe(self) -> str:
        """'crdnn (cnn_channels [32, 64], ..., dropout 0.15)': every setting, for logs and reports."""
        return f"{self.name} ({', '.join(f'{k} {v}' for k, v in dataclasses.asdict(self.conf).items())})"


def _model_config(name: str, where: str):
    """The settings dataclass of model `name` (ConfigError naming `where` for an unknown model)."""
    if name not in MODEL_CONFIGS:
        raise ConfigError(f"{where}: unknown model {name!r} (choose one of {', '.join(MODEL_CONFIGS)})")
    return MODEL_CONFIGS[name]


@dataclass
class TrainConfig:
    epochs: int = 20  # passes over the training set
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    schedule: str = "cosine"  # cosine | noam | constant (after warm-up)
    warmup_steps: int = 200  # linear warm-up steps
    plateau_factor: float = 0.0  # NewBob: multiply lr by this when dev PER stalls (0 disables)
    plateau_patience: int = 1  # epochs without improvement before a plateau decay
    early_stop_patience: int = 0  # stop after this many epochs without dev PER improvement (0 disables)
    grad_clip: float = 5.0  # max global gradient norm
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    seed: int = 0  # seeds weights, dropout, batch order
    average: int = 0  # average the best N checkpoints at the end (0 disables)
    keep_checkpoints: int = 5  # per-epoch checkpoints kept (for averaging)
    max_bad_steps: int = 20  # skipped (non-finite) steps in a row before giving up; 0: never give up
    frame_weight: float = 0.0  # > 0: a frame-classification head (10 ms frames, .PHN times) beside CTC, loss weight
    init_from: str = ""  # a model.pt whose weights training starts from (a previous round); "": random weights
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


@dataclass
class DecodeConfig:
    method: str = "greedy"  # greedy | beam
    beam: int = 16  # beam width for prefix beam search
    lm_weight: float = 0.0  # weight of the phone bigram LM (beam only; 0 disables)
    insertion_bonus: float = 0.0  # added per emitted phone (beam only)
    blank_penalty: float = 0.0  # subtracted from the blank's log posterior before either search: fewer deletions


@dataclass
class ExperimentConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


def from_dict(cls, values: dict, where: str = ""):
    """Build dataclass `cls` from a (nested) dict, rejecting unknown keys and wrong types.
    A ValueError from the dataclass's own checks (`__post_init__`) becomes a ConfigError naming `where`."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        name = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(f"unknown config key {name!r} (known: {', '.join(fields)})")
        kwargs[key] = _coerce(hints[key], value, name)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"{where or 'config'}: {e}") from None


def _coerce(tp, value, name):
    if hasattr(tp, "from_dict"):  # a section that parses itself (ModelConfig)
        return tp.from_dict(value, name)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, name)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "3e-3" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    base = typing.get_origin(tp) or tp
    if base is bool and not isinstance(value, bool) or base is not bool and isinstance(value, bool):
        raise ConfigError(f"config key {name!r} expects {getattr(base, '__name__', base)}, got {value!r}")
    if not isinstance(value, base):
        raise ConfigError(f"config key {name!r} expects {getattr(base, '__name__', base)}, got {value!r}")
    if base is list and typing.get_args(tp):  # list[int]: every item checked
        return [_coerce(typing.get_args(tp)[0], v, f"{name}[{i}]") for i, v in enumerate(value)]
    return value


def to_dict(cfg) -> dict:
    """The config as plain nested dicts (what config.yaml, checkpoints and training_diff hold)."""
    if isinstance(cfg, ModelConfig):
        return cfg.to_dict()
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else copy.deepcopy(value)
    return out


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Apply `a.b=c` overrides (c parsed as YAML) to a nested dict, in place."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k!r} is a value, not a section")
        node[keys[-1]] = yaml.safe_load(raw)
    return values


def read_yaml(path, what: str = "config file"):
    """Parsed YAML of `path` ({} when empty); a missing or malformed file is a ConfigError naming it."""
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None


def load_config(path=None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Defaults <- YAML file <- overrides; validated strictly. The old flat model section is converted."""
    values = read_yaml(path) if path is not None else {}
    where = path or "config"
    try:
        if not isinstance(values, dict):
            raise ConfigError(f"expected a mapping of sections, got {type(values).__name__}")
        apply_overrides(values, overrides or [])
        normalized = normalize_config_dict(values)
        if normalized is not values:
            new_form = yaml.safe_dump(normalized["model"], default_flow_style=True, sort_keys=False, width=10**6)
            log.warning("%s: the model section is in the old flat form, read as model: %s (write it so)",
                        where, new_form.strip())
        return from_dict(ExperimentConfig, normalized)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


# ---- the flat model section of older phonerec (before per-model sections) ----------------------
# One dataclass for every model, each reading some of its fields (and `time_strides` differently):
# its defaults, and which fields each model used. Configs and checkpoints of that time are
# converted by normalize_config_dict; models added since have no flat form.
FLAT_MODEL_DEFAULTS = {"name": "crdnn", "cnn_channels": [64, 128], "cnn_kernel": 3, "cnn_blocks": 4,
                       "time_strides": [2, 1], "lstm_hidden": 256, "lstm_layers": 3, "proj_dim": 256,
                       "dropout": 0.15}
FLAT_MODEL_USES = {
    "cnn": ("cnn_channels", "cnn_kernel", "cnn_blocks", "time_strides", "dropout"),
    "crdnn": ("cnn_channels", "cnn_kernel", "time_strides", "lstm_hidden", "lstm_layers", "proj_dim", "dropout"),
    "lstm": ("time_strides", "lstm_hidden", "lstm_layers", "dropout"),  # time_strides: frames stacked, by product
}


def normalize_config_dict(values: dict, strict: bool = True) -> dict:
    """`values` (a config as a dict) with an old flat model section in today's form: the fields the
    model used go under model.<name> (lstm's time_strides becomes frame_stack, their product);
    a field it ignored is dropped if it has its old default, else it is a ConfigError (with
    `strict=False`, for configs stored in checkpoints, it is dropped: it never shaped the weights).
    Other sections, and a model section already in today's form, are returned as they are."""
    model = values.get("model")
    if not isinstance(model, dict):
        return values
    flat = {k: v for k, v in model.items() if k in FLAT_MODEL_DEFAULTS and k != "name"}
    if not flat:
        return values
    name = _coerce(str, model.get("name", FLAT_MODEL_DEFAULTS["name"]), "model.name")
    if name not in FLAT_MODEL_USES:
        _model_config(name, "model.name")  # an unknown model, else one added after the flat form
        raise ConfigError(f"model.{next(iter(flat))}: model {name!r} has no flat form: write its settings "
                          f"as model: {{name: {name}, {name}: {{...}}}}")
    section, flat_key = {}, {}
    for key, value in flat.items():
        if key in FLAT_MODEL_USES[name]:
            new_key = key
            if name == "lstm" and key == "time_strides":
                new_key, value = "frame_stack", math.prod(_coerce(list[int], value, "model.time_strides"))
            section[new_key], flat_key[new_key] = value, key
        elif strict and value != FLAT_MODEL_DEFAULTS[key]:
            settings = ", ".join(f.name for f in dataclasses.fields(_model_config(name, "model.name")))
            raise ConfigError(f"model.{key}: {value!r} is not a setting of model {name!r} (the old flat model "
                              f"section, which ignored it): remove it, or write the section as "
                              f"model: {{name: {name}, {name}: {{...}}}} with {name}'s settings ({settings})")
    given = model.get(name) or {}
    if not isinstance(given, dict):
        raise ConfigError(f"model.{name}: expected a mapping, got {type(given).__name__}")
    both = sorted(section.keys() & given.keys())
    if both:
        raise ConfigError(f"model.{flat_key[both[0]]} (the old flat form) and model.{name}.{both[0]} are both "
                          f"given: keep only model.{name}.{both[0]}")
    rest = {k: v for k, v in model.items() if k not in flat and k != name}
    return {**values, "model": {**rest, "name": name, name: {**section, **given}}}


# Settings that cannot change the trained weights: a difference in them never calls for retraining.
NOT_TRAINING = ("decode", "data.num_workers", "data.valid_max_frames")


def training_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved configs (as dicts), NOT_TRAINING left out."""
    keys = []
    for k in sorted(set(old) | set(new)):
        name = f"{prefix}{k}"
        if name in NOT_TRAINING:
            continue
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += training_diff(a, b, name + ".")
        elif a != b:
            keys.append(name)
    return keys


def describe_diff(old: dict, new: dict, keys: list[str]) -> str:
    """'train.lr 0.002 -> 0.001, model.lstm_layers 2 -> 3' for the keys of training_diff."""
    def get(d, dotted):
        for k in dotted.split("."):
            d = d.get(k) if isinstance(d, dict) else None
        return d

    return ", ".join(f"{k} {get(old, k)!r} -> {get(new, k)!r}" for k in keys)


def resolved_dict(values: dict) -> dict:
    """A stored config (model.pt, a checkpoint, config.yaml; maybe of an older phonerec) as today's resolved
    dict: the old flat model section converted, settings added since at their defaults, which is how that
    model was trained. ConfigError when this version cannot read it."""
    return to_dict(from_dict(ExperimentConfig, normalize_config_dict(values, strict=False)))


def config_change(trained: dict, wanted: dict) -> str | None:
    """'train.lr 0.002 -> 0.001, ...': the settings that shape the weights and differ between the config a
    model or checkpoint was trained with and the one asked for; None when none does. The one comparison
    of stage 3's up-to-date check (experiment.why_retrain) and of --resume (Trainer.resume), so the two
    never disagree: both sides are resolved first (resolved_dict). ConfigError: `trained` is unreadable."""
    old, new = resolved_dict(trained), resolved_dict(wanted)
    keys = training_diff(old, new)
    return describe_diff(old, new, keys) if keys else None


def flat_settings(cfg: ExperimentConfig, part: str = "training") -> dict[str, str]:
    """{dotted key: value} of the settings a stage runs with, for its record (phonerec.records):
    "training": every setting that shapes the weights (NOT_TRAINING left out); "features": the
    features section alone."""
    def flatten(d: dict, prefix: str) -> dict[str, str]:
        out = {}
        for k, v in d.items():
            name = f"{prefix}{k}"
            if name in NOT_TRAINING:
                continue
            out.update(flatten(v, name + ".") if isinstance(v, dict) else {name: json.dumps(v)})
        return out

    values = to_dict(cfg)
    if part == "features":
        return flatten({k: v for k, v in values["features"].items() if k != "cmvn"}, "features.")
    if part != "training":
        raise ValueError(f"unknown settings part {part!r}: training or features")
    return flatten(values, "")


def save_config(cfg: ExperimentConfig, path) -> None:
    write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
