"""Search: token ids from one utterance's CTC posteriors (greedy, or prefix beam search with a
phone bigram LM), and the decode settings that choose between them."""
from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import torch

from phonerec.config import ConfigError, DecodeConfig, from_dict, read_yaml
from phonerec.decoding.ctc import greedy_decode, prefix_beam_search
from phonerec.decoding.lm import BigramLM
from phonerec.phones import PhoneTokenizer

log = logging.getLogger(__name__)

METHODS = ("greedy", "beam")
LM_FILE = "lm_bigram.json"


def check_decode_config(dcfg: DecodeConfig) -> DecodeConfig:
    if dcfg.method not in METHODS:
        raise ConfigError(f"decode.method must be one of {', '.join(METHODS)}, got {dcfg.method!r}")
    if dcfg.beam < 1:
        raise ConfigError(f"decode.beam must be >= 1, got {dcfg.beam}")
    if not math.isfinite(dcfg.blank_penalty):
        raise ConfigError(f"decode.blank_penalty must be a finite number, got {dcfg.blank_penalty}")
    return dcfg


def resolve_decode_config(base: DecodeConfig | None = None, path=None, **overrides) -> DecodeConfig:
    """base (e.g. the model's own config) <- YAML file (a `decode:` section, or bare DecodeConfig keys,
    or a decode_<split>/decode.json to reuse tuned settings) <- overrides that are not None.
    Validated: unknown keys and bad values are ConfigErrors."""
    values = dataclasses.asdict(base or DecodeConfig())
    if path is not None:
        loaded = read_yaml(path, "decode config")
        section = (loaded.get("decode") or {}) if isinstance(loaded, dict) and "decode" in loaded else loaded
        if isinstance(loaded, dict) and "decode" not in loaded and _is_experiment(loaded):
            section = {}  # an experiment config without a decode section
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: expected a mapping of decode settings")
        if Path(path).suffix == ".json":  # a decode.json written by decode_experiment: reuse its settings
            section = {k: v for k, v in section.items() if k in values}
        values.update(section)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return check_decode_config(from_dict(DecodeConfig, values, "decode"))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path is not None else str(e)) from None


def _is_experiment(d: dict) -> bool:
    """An experiment YAML without a decode section: nothing to take from it."""
    return bool(set(d) & {"features", "data", "model", "train"})


def search(log_probs: np.ndarray, dcfg: DecodeConfig, lm_matrix: np.ndarray | None = None) -> list[int]:
    """Token ids of one utterance's (T', C) posteriors under a decode config.

    A blank penalty (icefall's `--blank-penalty`) lowers the blank's log posterior in every frame: a model
    whose blank wins too often (deletions well above insertions) emits more phones."""
    if dcfg.blank_penalty:
        log_probs = np.array(log_probs, dtype=np.float32)  # a copy: the stored posteriors serve other settings
        log_probs[:, 0] -= dcfg.blank_penalty
    if dcfg.method == "greedy":
        return greedy_decode(torch.from_numpy(log_probs)[None], torch.tensor([len(log_probs)]))[0]
    lm = lm_matrix if dcfg.lm_weight else None
    return prefix_beam_search(log_probs, dcfg.beam, lm, dcfg.lm_weight, dcfg.insertion_bonus)[0]


def decode_posteriors(posteriors: dict[str, np.ndarray], tokenizer: PhoneTokenizer, dcfg: DecodeConfig,
                      lm_matrix: np.ndarray | None = None) -> dict[str, list[str]]:
    if dcfg.method == "beam" and dcfg.lm_weight and lm_matrix is None:
        raise ValueError("lm_weight is set but no LM was given")
    return {u: tokenizer.decode(search(lp, dcfg, lm_matrix)) for u, lp in posteriors.items()}


def load_lm_matrix(model_dir, tokenizer: PhoneTokenizer) -> np.ndarray:
    """The saved LM of an experiment as a decoder matrix (for transcription)."""
    return BigramLM.load(Path(model_dir) / LM_FILE).matrix(tokenizer.symbols)
