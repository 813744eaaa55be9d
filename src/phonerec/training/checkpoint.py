"""Checkpoints: atomic save, safe load with one-line errors, and weight averaging."""
from __future__ import annotations

from pathlib import Path

import torch

from phonerec.fileio import torch_save


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt or does not fit the model; one line says which."""


def save(state: dict, path) -> None:
    torch_save(state, path)


def load(path, map_location="cpu") -> dict:
    """Load a checkpoint dict; any failure becomes a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a phonerec checkpoint (no model weights in it)")
    return state


def load_weights(model: torch.nn.Module, weights: dict, path) -> None:
    """Load weights, turning a shape or key mismatch into a one-line CheckpointError."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e))
        raise CheckpointError(f"{path}: checkpoint does not fit this model ({first[:200]})") from None


def average_weights(paths: list) -> dict:
    """Element-wise mean of the model weights of several checkpoints (integer buffers from the last)."""
    if not paths:
        raise ValueError("no checkpoints to average")
    states = [load(p)["model"] for p in paths]
    avg = {}
    for k, v in states[-1].items():
        if v.is_floating_point():
            avg[k] = sum(s[k].double() for s in states).div(len(states)).to(v.dtype)
        else:
            avg[k] = v.clone()  # e.g. BatchNorm's num_batches_tracked
    return avg
