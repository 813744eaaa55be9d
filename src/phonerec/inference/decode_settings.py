"""How a model decodes: the one resolver that decode, transcribe, align, the API and the page use.

Each layer overrides the one before it, setting by setting:
  1. "default"          DecodeConfig's defaults (config.py)
  2. "training config"  the `decode:` section of the config the model was trained with
  3. "tuned on ..."     the settings `decode.py --tune` stored in model.pt, with the bigram LM they need
                        (stored only for the model's own dev set, or when asked: experiment.decode)
  4. a decode config    `--decode-config FILE` (YAML, or a decode_<split>/decode.json to reuse)
  5. the caller         command-line options, `Recognizer.load(..., beam=...)` arguments
A setting's source is the last layer that changed its value, so `describe()` says where each came
from: 'beam 16, lm_weight 0.25, insertion_bonus +0, blank_penalty 0.5 (lm_weight, insertion_bonus:
tuned on data/manifests/dev.json of 2026-12-06; blank_penalty: training config; method, beam: default)'.
The LM a weighted beam search needs is the one model.pt carries, else lm_bigram.json beside it.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phonerec.config import ConfigError, DecodeConfig, from_dict
from phonerec.decoding.lm import BigramLM, LMError
from phonerec.decoding.search import LM_FILE, check_decode_config, resolve_decode_config
from phonerec.inference.model import LoadedModel, model_file
from phonerec.training import checkpoint

log = logging.getLogger(__name__)

DECODING_KEY = "decoding"  # in model.pt: the settings tuned on dev and the bigram LM they need


@dataclass
class DecodeSettings:
    """The resolved decode config, the LM it carries (if tuned), and where each setting came from."""
    config: DecodeConfig
    sources: dict[str, str] = field(default_factory=dict)  # setting -> layer name
    carried_lm: BigramLM | None = None

    def describe(self) -> str:
        c = self.config
        values = ("greedy" if c.method == "greedy" else
                  f"beam {c.beam}, lm_weight {c.lm_weight:g}, insertion_bonus {c.insertion_bonus:+g}")
        values += f", blank_penalty {c.blank_penalty:g}" if c.blank_penalty or c.method == "greedy" else ""
        by_source: dict[str, list[str]] = {}
        shown = ["method", "blank_penalty"] + (["beam", "lm_weight", "insertion_bonus"] if c.method == "beam" else [])
        for key in shown:
            by_source.setdefault(self.sources.get(key, "default"), []).append(key)
        origins = "; ".join(", ".join(keys) + f": {src}" for src, keys in by_source.items())
        return f"{values} ({origins})"


def tuned_source(record: dict) -> str:
    """'tuned on data/manifests/dev.json of 2026-12-06' (older models stored only the split's name)."""
    on = record.get("tuned_on")
    if isinstance(on, dict):
        return f"tuned on {on.get('manifest', on.get('split', '?'))}" + (f" of {on['date']}" if on.get("date") else "")
    return f"tuned on {on or '?'}"


def carried_decoding(info: dict, path) -> tuple[DecodeConfig | None, BigramLM | None, dict | None]:
    """(settings, LM, record) a model carries from tuning, or (None, None, None) for an untuned model."""
    record = info.get(DECODING_KEY)
    if not record:
        return None, None, None
    try:
        dcfg = from_dict(DecodeConfig, record["decode"], "decode")
        lm = BigramLM.from_dict(record["lm"], f"{path}: its LM") if record.get("lm") else None
    except (ConfigError, LMError, KeyError, TypeError) as e:
        raise checkpoint.CheckpointError(f"{path}: unreadable tuned decode settings ({e})") from None
    return dcfg, lm, record


def resolve(loaded: LoadedModel, decode_config=None, overrides: dict | None = None,
            caller: str = "arguments") -> DecodeSettings:
    """The decode settings of `loaded` under the layers of the module doc; `caller` names layer 5 in
    the description ('command line', 'Recognizer.load'). ConfigError for a bad file or value."""
    layers = [("default", DecodeConfig()), ("training config", loaded.config.decode)]
    tuned, lm, record = carried_decoding(loaded.info, loaded.path)
    if tuned is not None:
        layers.append((tuned_source(record), tuned))
    if decode_config is not None:
        layers.append((str(decode_config), resolve_decode_config(layers[-1][1], decode_config)))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if given:
        layers.append((caller, resolve_decode_config(layers[-1][1], None, **given)))
    sources: dict[str, str] = {}
    for (_, below), (name, layer) in zip(layers, layers[1:]):
        for f in dataclasses.fields(DecodeConfig):
            if getattr(layer, f.name) != getattr(below, f.name):
                sources[f.name] = name
    return DecodeSettings(check_decode_config(layers[-1][1]), sources, lm)


def lm_matrix_for(settings: DecodeSettings, loaded: LoadedModel) -> np.ndarray | None:
    """The bigram LM matrix a weighted beam search needs: the one model.pt carries, else lm_bigram.json
    beside it (decode.py writes it); None when the settings need none. LMError when it is missing."""
    if settings.config.method != "beam" or not settings.config.lm_weight:
        return None
    if settings.carried_lm is not None:
        return settings.carried_lm.matrix(loaded.tokenizer.symbols)
    try:
        return BigramLM.load(model_file(loaded.path).parent / LM_FILE).matrix(loaded.tokenizer.symbols)
    except LMError as e:
        raise LMError(f"{e} (decode.py --method beam with --lm-weight or --tune estimates it)") from None


def store_tuned(path, dcfg: DecodeConfig, lm: BigramLM | None, tuned_on: dict, per: float) -> None:
    """Make settings tuned on a dev set the model's own: model.pt carries them, their LM and what they
    were tuned on (`tuned_on`: split, manifest path and digest), rewritten atomically. Training writes a
    new model.pt without them: they were tuned for other weights."""
    path = model_file(path)
    state = checkpoint.load(path)
    state[DECODING_KEY] = {"decode": dataclasses.asdict(dcfg),
                           "tuned_on": {**tuned_on, "date": datetime.date.today().isoformat()},
                           "per": per, "lm": lm.to_dict() if lm is not None else None}
    checkpoint.save(state, path)
