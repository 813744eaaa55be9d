"""Load a self-contained model file: model.pt carries the config, the phone set, the CMVN statistics,
what it was trained on and, once tuned, how it decodes, so nothing beside it is needed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from phonerec.config import ExperimentConfig, from_dict, normalize_config_dict
from phonerec.models import build_model
from phonerec.phones import PhoneTokenizer
from phonerec.training import checkpoint


def model_file(exp_or_file) -> Path:
    """An experiment folder's model.pt, or the model file itself."""
    path = Path(exp_or_file)
    return path / "model.pt" if path.is_dir() else path


@dataclass
class LoadedModel:
    """A model ready to run. Unpacks as (model, config, tokenizer, cmvn) for the common case."""
    model: torch.nn.Module  # in eval mode, on its device
    config: ExperimentConfig
    tokenizer: PhoneTokenizer
    cmvn: dict
    path: Path  # the model file
    info: dict  # model.pt's entries other than the weights: source, trained_on, decoding ...

    def __iter__(self):
        return iter((self.model, self.config, self.tokenizer, self.cmvn))


def load_model(exp_or_file, device=None) -> LoadedModel:
    """Load a self-contained model (experiment folder or model file); CheckpointError names the file
    when it is missing, unreadable or not a phonerec model."""
    path = model_file(exp_or_file)
    state = checkpoint.load(path)
    try:
        cfg = from_dict(ExperimentConfig, normalize_config_dict(state["config"], strict=False))
        tokenizer = PhoneTokenizer(state["phones"], state.get("stand_ins"))  # older models: none
        cmvn = state["cmvn"]
    except Exception as e:
        raise checkpoint.CheckpointError(f"{path}: incompatible checkpoint (missing or bad {e})") from None
    device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = build_model(cfg.model, len(cmvn["mean"]), len(tokenizer), frame_head=cfg.train.frame_weight > 0)
    checkpoint.load_weights(model, state["model"], path)
    info = {k: v for k, v in state.items() if k != "model"}
    return LoadedModel(model.to(device).eval(), cfg, tokenizer, cmvn, path, info)
