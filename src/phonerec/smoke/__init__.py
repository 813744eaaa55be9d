"""MNIST / CIFAR-10 smoke tasks: small CNNs trained with the phone models' `Trainer`.

A task with a known answer (~98 % on MNIST digits) tells a broken fit loop from a hard
phone task. `run_smoke("mnist")` runs on a generated look-alike when no data folder is given.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from phonerec.smoke import cifar, mnist
from phonerec.smoke.common import ImageSplits, SmallCNN, SmokeConfig, SmokeDataError, fit_and_test

log = logging.getLogger(__name__)

TASKS = {"mnist": mnist, "cifar": cifar}

__all__ = ["TASKS", "ImageSplits", "SmallCNN", "SmokeConfig", "SmokeDataError", "load_task", "run_smoke"]


def task_config(task: str, epochs: int | None = None, **overrides) -> SmokeConfig:
    """The task's defaults with `epochs` and any SmokeConfig field replaced."""
    if task not in TASKS:
        raise ValueError(f"unknown smoke task {task!r}; use one of {', '.join(TASKS)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(SmokeConfig)}
    if unknown:
        raise TypeError(f"unknown smoke setting(s): {', '.join(sorted(unknown))}")
    if epochs is not None:
        overrides["epochs"] = epochs
    return dataclasses.replace(TASKS[task].DEFAULTS, **overrides)


def load_task(task: str, data_dir=None, seed: int = 0, cfg: SmokeConfig | None = None) -> ImageSplits:
    """Real files from `data_dir`, or the task's generated look-alike when it is None."""
    module = TASKS[task]
    if data_dir is not None:
        return module.load(data_dir, seed)
    cfg = cfg or module.DEFAULTS
    log.warning("no data folder: %s runs on a generated look-alike, not the real data set", task)
    return module.synthetic(seed, cfg.n_train, cfg.n_test)


def run_smoke(task: str, data_dir=None, out_dir=None, epochs: int | None = None, seed: int = 0,
              resume: bool = False, device=None, **overrides) -> dict:
    """Train the task's SmallCNN with `Trainer`; return dict(accuracy=test accuracy in [0, 1], history=...).

    Checkpoints go to <out_dir>/checkpoints (default exp/smoke/<task>); `resume` continues
    from its last.pt. `overrides` replace SmokeConfig fields (lr, batch_size, schedule,
    plateau_factor, n_train, ...).
    """
    cfg = task_config(task, epochs, **overrides)
    splits = load_task(task, data_dir, seed, cfg)
    out_dir = Path(out_dir) if out_dir is not None else Path("exp") / "smoke" / task
    return fit_and_test(splits, cfg, out_dir, seed=seed, resume=resume, device=device, task=task)
