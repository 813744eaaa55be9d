"""Checkpoints: atomic save, safe load with one-line errors, and weight averaging.

Loading never runs code: a checkpoint is unpickled with torch.load(weights_only=True), which
builds only tensors and plain Python data (a model.pt someone sent you is data, not a program).
The one other type phonerec writes is numpy's RNG state in the trainer's checkpoints (an array),
allowed by name below.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch

from phonerec.fileio import torch_save

# np.random.get_state() pickles as an ndarray of a dtype, rebuilt by numpy's _reconstruct
NUMPY_RNG_STATE = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), np.array(0).__reduce__()[0]]


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
        with torch.serialization.safe_globals(NUMPY_RNG_STATE):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)|got <class '([^']+)'>", str(e))  # an object beyond plain data
        if not found:
            raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(e)})") from None
        raise CheckpointError(f"{path}: refused: it holds a Python object ({next(g for g in found.groups() if g)}) "
                              "besides tensors and plain data, and unpickling it could run code; a phonerec "
                              "checkpoint never holds one") from None
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(e)})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a phonerec checkpoint (no model weights in it)")
    return state


def _first_line(e: Exception) -> str:
    """The line that says what is wrong (torch's weights-only errors wrap it in advice we do not follow)."""
    boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith(boilerplate)]
    return lines[0] if lines else type(e).__name__


def load_weights(model: torch.nn.Module, weights: dict, path, may_lack: str | None = None) -> None:
    """Load weights, turning a shape or key mismatch into a one-line CheckpointError. `may_lack`: a
    submodule name (e.g. "frame_head") the checkpoint may lack; it then keeps the model's own weights."""
    own = model.state_dict()
    if may_lack and not any(k.startswith(may_lack + ".") for k in weights):
        weights = {**weights, **{k: v for k, v in own.items() if k.startswith(may_lack + ".")}}
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
