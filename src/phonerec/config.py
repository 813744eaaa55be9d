"""Experiment configuration: one dataclass per concern, YAML files, strict `a.b=c` overrides.

An unknown key or a value of the wrong type is an error that names the key, so a typo
in a YAML file never silently trains the default model.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


@dataclass
class FeatureConfig:
    sample_rate: int = 16000  # audio is resampled to this rate before analysis
    n_mels: int = 80  # log-mel filterbank bins
    win_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # frame shift
    n_fft: int = 512  # FFT size (window zero-padded to it)
    speed_perturb: list = field(default_factory=lambda: [1.0])  # train copies made once at caching time


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
    name: str = "crdnn"  # one of the registry: cnn, lstm, crdnn
    cnn_channels: list = field(default_factory=lambda: [64, 128])  # channels per conv block
    cnn_kernel: int = 3  # convolution kernel size
    cnn_blocks: int = 4  # residual blocks (cnn model)
    time_strides: list = field(default_factory=lambda: [2, 1])  # time stride per conv block (product = subsampling)
    lstm_hidden: int = 256  # hidden units per direction
    lstm_layers: int = 3  # stacked bidirectional layers
    proj_dim: int = 256  # linear layer before the output (crdnn)
    dropout: float = 0.15  # dropout between layers


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
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


@dataclass
class DecodeConfig:
    method: str = "greedy"  # greedy | beam
    beam: int = 16  # beam width for prefix beam search
    lm_weight: float = 0.0  # weight of the phone bigram LM (beam only; 0 disables)
    insertion_bonus: float = 0.0  # added per emitted phone (beam only)


@dataclass
class ExperimentConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


def from_dict(cls, values: dict, where: str = ""):
    """Build dataclass `cls` from a (nested) dict, rejecting unknown keys and wrong types."""
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
    return cls(**kwargs)


def _coerce(tp, value, name):
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
    return value


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


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
    """Defaults <- YAML file <- overrides; validated strictly."""
    values = read_yaml(path) if path is not None else {}
    merged = _deep_merge(to_dict(ExperimentConfig()), values)
    apply_overrides(merged, overrides or [])
    try:
        return from_dict(ExperimentConfig, merged)
    except ConfigError as e:
        raise ConfigError(f"{path or 'config'}: {e}") from None


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


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


def save_config(cfg: ExperimentConfig, path) -> None:
    from .fileio import write_text

    write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
