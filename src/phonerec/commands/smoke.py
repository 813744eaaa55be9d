"""Smoke test of the trainer: fit a small CNN on MNIST or CIFAR-10 and print the test accuracy.

Without --data it runs on a generated look-alike (no files, no download), which checks the
fit loop but says nothing about real-image accuracy.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from phonerec.logs import setup_logging
from phonerec.smoke import TASKS, SmokeDataError, run_smoke
from phonerec.training.checkpoint import CheckpointError
from phonerec.training.trainer import TrainingError

log = logging.getLogger("smoke")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--data", help="folder with the MNIST IDX gz files / mnist.pkl.gz, or the CIFAR-10 python "
                                  "batches (default: a generated look-alike)")
    p.add_argument("--out", help="checkpoint and log folder (default: exp/smoke/<task>)")
    p.add_argument("--epochs", type=int, help="epochs (default: 3 for mnist, 5 for cifar)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last.pt")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (1 is much faster on a busy machine)")
    a = p.parse_args(argv)
    out = Path(a.out or Path("exp") / "smoke" / a.task)
    setup_logging(out / "smoke.log")
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.data is None:
        print(f"no --data: running {a.task} on a generated look-alike, not the real data set", flush=True)
    try:
        res = run_smoke(a.task, a.data, out, epochs=a.epochs, seed=a.seed, resume=a.resume, device=a.device)
    except (SmokeDataError, CheckpointError, TrainingError) as e:
        log.error("%s", e)
        return 1
    print(f"{a.task} test accuracy {100 * res['accuracy']:.2f} % (best valid epoch {res['best_epoch']}, "
          f"{res['seconds']:.1f} s) on {res['source']}")
    return 0

