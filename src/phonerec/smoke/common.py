"""Shared parts of the smoke tasks: data splits, a small CNN, and the fit/test wrapper.

The smoke tasks train image classifiers with the very `Trainer` the phone models use, so
a broken fit loop (checkpoints, resume, lr decay) shows up on a task whose answer is known.
"""
from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from phonerec.training import checkpoint
from phonerec.training.trainer import Trainer, TrainerConfig, adamw

log = logging.getLogger(__name__)


class SmokeDataError(ValueError):
    """A smoke data file is missing, corrupt or not in the expected format; the message names it."""


# ---- data ----------------------------------------------------------------------------------
@dataclass
class ImageSplits:
    """Images (N, C, H, W) float32 in [0, 1] and int64 labels for train, valid and test."""

    train: tuple[np.ndarray, np.ndarray]
    valid: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    source: str  # one line for the log: where the images came from and how they were split
    n_classes: int = 10

    def describe(self) -> str:
        return (f"{self.source}: {len(self.train[1])} train / {len(self.valid[1])} valid / "
                f"{len(self.test[1])} test images of shape {tuple(self.train[0].shape[1:])}")


def split_off(x: np.ndarray, y: np.ndarray, n: int, seed: int):
    """Seeded random split: (rest_x, rest_y), (part_x, part_y) with `n` items in the part."""
    perm = np.random.default_rng(seed).permutation(len(y))
    part, rest = np.sort(perm[:n]), np.sort(perm[n:])
    return (x[rest], y[rest]), (x[part], y[part])


def make_splits(train=None, test=None, valid=None, *, seed: int, source: str,
                test_fraction: float = 0.2, valid_fraction: float = 0.1) -> ImageSplits:
    """Fill in missing splits: a test set cut from train (or train from test), valid cut from train.

    Valid always comes out of the training images, never the test set, so the test accuracy
    of the best-on-valid checkpoint stays an honest number.
    """
    if train is None and test is None:
        raise ValueError("make_splits needs a train or a test set")
    if test is None or train is None:
        whole, which = (train, "train") if test is None else (test, "test")
        n_test = max(1, round(len(whole[1]) * test_fraction))
        train, test = split_off(*whole, n_test, seed)
        source += (f" (only a {which} set: its {len(whole[1])} images split {len(train[1])} train / "
                   f"{n_test} test, seed {seed}; not comparable to the standard test split)")
    if valid is None:
        n_valid = min(max(1, round(len(train[1]) * valid_fraction)), 5000)
        train, valid = split_off(*train, n_valid, seed + 1)
    return ImageSplits(train=train, valid=valid, test=test, source=source)


class EpochShuffle(Sampler):
    """Batches of indices in an order fixed by (seed, epoch).

    The trainer calls `set_epoch`, so a resumed run draws the same batches as an
    uninterrupted one whatever else touched the global RNG.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        return (perm[i:i + self.batch_size] for i in range(0, self.n, self.batch_size))


# ---- model ---------------------------------------------------------------------------------
class SmallCNN(nn.Module):
    """Stack of stride-2 3x3 convs, then adaptive average pooling: the course notes' MNIST net
    plus BatchNorm and a linear head, so one class fits 28x28 grey and 32x32 colour images.
    Four layers take 28x28 down to 2x2, so the last layer sees the whole image before pooling.

    Per-channel input mean/std are buffers: a checkpoint classifies raw [0, 1] images on its own.
    Dropout before the head also makes a resumed run depend on the RNG state the trainer restores.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, widths=(32, 64, 128, 256), mean=None, std=None,
                 dropout: float = 0.0):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean if mean is not None else [0.0] * in_channels,
                                                     dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std if std is not None else [1.0] * in_channels,
                                                    dtype=torch.float32).view(1, -1, 1, 1))
        layers, c = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features((x - self.mean) / self.std)
        return self.head(self.dropout(F.adaptive_avg_pool2d(x, 1).flatten(1)))


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (N, C, H, W) images, in float64 for a stable sum."""
    mean = x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = x.std(axis=(0, 2, 3), dtype=np.float64)
    return mean.tolist(), np.maximum(std, 1e-6).tolist()


# ---- training ------------------------------------------------------------------------------
@dataclass
class SmokeConfig:
    """Hyper-parameters of one smoke task; `run_smoke(**overrides)` replaces any field."""

    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # trainer schedule: cosine | noam | constant
    warmup_steps: int = 50
    plateau_factor: float = 0.0  # ReduceLROnPlateau factor on valid accuracy (0 disables)
    plateau_patience: int = 1
    widths: tuple = (32, 64, 128, 256)
    dropout: float = 0.1
    n_train: int = 6000  # synthetic look-alike only: images generated for train (+valid)
    n_test: int = 1000  # synthetic look-alike only
    keep_checkpoints: int = 2


def cross_entropy_step(model: nn.Module, batch) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x).float(), y)


@torch.no_grad()
def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device, batch_size: int = 500) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in [0, 1]) of `model` on in-memory images.

    Plain slicing rather than a DataLoader: evaluation then draws nothing from the RNG.
    """
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        logits = model(xb).float()
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    model.train(was_training)
    n = max(len(y), 1)
    return loss / n, correct / n


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _tensors(split):
    x, y = split
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))


def fit_and_test(splits: ImageSplits, cfg: SmokeConfig, out_dir, *, seed: int = 0, resume: bool = False,
                 device=None, task: str = "smoke") -> dict:
    """Train a SmallCNN with `Trainer` (monitoring valid accuracy), then score the best checkpoint on test.

    Returns accuracy (test, in [0, 1]), test_loss, best_valid, best_epoch, history, seconds,
    checkpoint (path of best.pt) and source.
    """
    t0 = time.time()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ckpt_dir = Path(out_dir) / "checkpoints"
    log.info("%s: %s", task, splits.describe())
    seed_everything(seed)
    train_x, train_y = _tensors(splits.train)
    valid_x, valid_y = _tensors(splits.valid)
    test_x, test_y = _tensors(splits.test)
    mean, std = channel_stats(splits.train[0])
    model = SmallCNN(train_x.shape[1], splits.n_classes, cfg.widths, mean, std, cfg.dropout).to(device)
    log.info("%s: SmallCNN widths %s, %.0f k parameters, device %s", task, list(cfg.widths),
             sum(p.numel() for p in model.parameters()) / 1e3, device)

    loader = DataLoader(TensorDataset(train_x, train_y), batch_sampler=EpochShuffle(len(train_y), cfg.batch_size, seed))
    optimizer = adamw(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    tcfg = TrainerConfig(epochs=cfg.epochs, lr=cfg.lr, schedule=cfg.schedule, warmup_steps=cfg.warmup_steps,
                         monitor="accuracy", mode="max", plateau_factor=cfg.plateau_factor,
                         plateau_patience=cfg.plateau_patience, keep_checkpoints=cfg.keep_checkpoints)

    def evaluate(m):
        loss, acc = score(m, valid_x, valid_y, device)
        return {"valid_loss": loss, "accuracy": acc}

    extra = {"smoke": {"task": task, "config": asdict(cfg), "source": splits.source, "seed": seed}}
    trainer = Trainer(model, optimizer, cross_entropy_step, tcfg, ckpt_dir=ckpt_dir, device=device,
                      evaluate=evaluate, extra=extra)
    if resume and not (ckpt_dir / "last.pt").is_file():
        log.info("%s: no checkpoint in %s to resume from: starting fresh", task, ckpt_dir)
    elif not resume and (ckpt_dir / "last.pt").is_file():
        log.info("%s: overwriting the checkpoints in %s (use resume to continue them)", task, ckpt_dir)
    history = trainer.fit(loader, resume=resume)

    best_path = ckpt_dir / "best.pt"
    checkpoint.load_weights(model, checkpoint.load(best_path, map_location=device)["model"], best_path)
    test_loss, test_acc = score(model, test_x, test_y, device)
    seconds = time.time() - t0
    log.info("%s: test accuracy %.2f %% (loss %.4f) with the epoch-%d checkpoint (valid %.2f %%), %.1f s",
             task, 100 * test_acc, test_loss, trainer.state.best_epoch, 100 * (trainer.state.best or 0), seconds)
    return {"accuracy": test_acc, "test_loss": test_loss, "best_valid": trainer.state.best,
            "best_epoch": trainer.state.best_epoch, "history": history, "seconds": seconds,
            "checkpoint": str(best_path), "source": splits.source}
