"""Stage train: cached features + config -> exp/<name>/model.pt (best dev PER), checkpoints, history."""
from __future__ import annotations

import argparse
import os
import logging
from pathlib import Path

import torch

from phonerec.config import ConfigError, load_config
from phonerec.corpora.manifest import ManifestError
from phonerec.experiment.train import train, why_retrain
from phonerec.features.fbank import FeatureError
from phonerec.logs import setup_logging
from phonerec.training.checkpoint import CheckpointError
from phonerec.training.trainer import TrainingError

log = logging.getLogger("train")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", help="experiment YAML, e.g. recipes/timit/conf/crdnn.yaml")
    p.add_argument("--set", action="append", default=[], help="override, e.g. train.lr=5e-4 (repeatable)")
    p.add_argument("--data", required=True, help="data folder with manifests/ and fbank/")
    p.add_argument("--exp", required=True, help="experiment folder, e.g. exp/crdnn")
    p.add_argument("--resume", action="store_true", help="continue from <exp>/checkpoints/last.pt")
    p.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice; 1 on a busy machine)")
    p.add_argument("--check", action="store_true",
                   help="train nothing: exit 0 when <exp>/model.pt was trained with this config, else say why, exit 1")
    a = p.parse_args(argv)
    if a.check:
        return check(a)
    if a.threads:
        torch.set_num_threads(a.threads)
    rank = int(os.environ.get("RANK", "0"))  # under torchrun: one log file per process, rank 0's train.log
    setup_logging(Path(a.exp) / "log" / ("train.log" if rank == 0 else f"train.rank{rank}.log"))
    try:
        cfg = load_config(a.config, a.set)
        history = train(cfg, a.data, a.exp, resume=a.resume, device=a.device)
    except (ConfigError, ManifestError, FeatureError, CheckpointError, TrainingError) as e:
        log.error("%s", e)
        return 1
    if history:
        best = min(history, key=lambda h: h.get("dev_per", float("inf")))
        log.info("best dev PER %.2f %% at epoch %d", best["dev_per"], best["epoch"])
    return 0


def check(a) -> int:
    """For run.sh: is the trained model up to date with the config?"""
    try:
        reason = why_retrain(a.exp, load_config(a.config, a.set))
    except (ConfigError, CheckpointError) as e:
        reason = str(e)
    if reason:
        print(reason)
    return 1 if reason else 0

