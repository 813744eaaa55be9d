"""Acoustic models by name. Each is `forward(feats (N,T,F), feat_lens (N,)) -> (log_probs (N,T',C), out_lens (N,))`
(common.AcousticModel: `encode` -> hidden, then the CTC output layer; an optional frame head),
knows its own time subsampling (`model.subsampling`) and its exact output lengths
(`model.output_lengths(feat_lens)`, used to drop utterances too short for CTC before training).

Adding a model: a module here with the model class, its config dataclass (one commented field per
setting) in `phonerec.model_config` (torch-free: the config reads it) and one line in its MODEL_CONFIGS, the
class attribute `Config` naming that dataclass; then one line in MODELS.
The config file then takes `model: {name: <key>, <key>: {<its settings>}}`.
"""
from __future__ import annotations

import torch

from phonerec.models.cnn import CNNModel
from phonerec.models.crdnn import CRDNN
from phonerec.models.lstm import BiLSTMModel

MODELS = {"cnn": CNNModel, "lstm": BiLSTMModel, "crdnn": CRDNN}


def build_model(cfg, n_feats: int, n_classes: int, frame_head: bool = False) -> torch.nn.Module:
    """The model `cfg` (a config.ModelConfig) names, with its settings; with `frame_head` (train.frame_weight
    > 0) plus the frame-classification head (common.FrameHead), created after the model's own layers so
    their initial weights do not depend on it."""
    model = MODELS[cfg.name](cfg.conf, n_feats, n_classes)
    if frame_head:
        model.add_frame_head(n_classes)
    return model


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
