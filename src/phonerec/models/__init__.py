"""Acoustic models by name. Each is `forward(feats (N,T,F), feat_lens (N,)) -> (log_probs (N,T',C), out_lens (N,))`
knows its own time subsampling (`model.subsampling`) and its exact output lengths
(`model.output_lengths(feat_lens)`, used to drop utterances too short for CTC before training)."""
from __future__ import annotations

import torch

from ..config import ModelConfig
from .cnn import CNNModel
from .crdnn import CRDNN
from .lstm import BiLSTMModel

MODELS = {"cnn": CNNModel, "lstm": BiLSTMModel, "crdnn": CRDNN}


def build_model(cfg: ModelConfig, n_feats: int, n_classes: int) -> torch.nn.Module:
    if cfg.name not in MODELS:
        raise ValueError(f"unknown model {cfg.name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[cfg.name](cfg, n_feats, n_classes)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
