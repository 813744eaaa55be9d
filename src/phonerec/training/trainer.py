"""Generic fit loop shared by the phone models and the MNIST/CIFAR smoke tasks.

Per epoch: train (AMP on CUDA, gradient clipping, per-step lr schedule), evaluate,
log one line, save a checkpoint atomically. `fit(resume=True)` continues from the last
complete checkpoint with the RNG states it saved (every rank's, under DDP), so an interrupted
CPU run ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from phonerec.config import ConfigError, config_change
from phonerec.training import checkpoint, distributed
from phonerec.training.schedule import lr_factor

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss stays non-finite); the message says why."""


@dataclass
class TrainerConfig:
    epochs: int
    lr: float
    schedule: str = "constant"  # cosine | noam | constant, after linear warm-up
    warmup_steps: int = 0
    grad_clip: float = 0.0  # 0 disables clipping
    amp: bool = True  # bf16 autocast, CUDA only
    monitor: str = "valid_loss"  # metric returned by `evaluate` that picks the best checkpoint
    mode: str = "min"  # min or max
    plateau_factor: float = 0.0  # NewBob / ReduceLROnPlateau factor on `monitor` (0 disables)
    plateau_patience: int = 1
    early_stop_patience: int = 0  # 0 disables
    keep_checkpoints: int = 5
    max_bad_steps: int = 20  # stop after this many skipped (non-finite) steps in a row; 0: never stop
    log_every: int = 0  # log a progress line every N steps (0: only per epoch)

    @classmethod
    def from_settings(cls, settings, **overrides) -> "TrainerConfig":
        """The fields of `settings` (e.g. config.TrainConfig) that TrainerConfig has by name, then
        `overrides`: each setting has one copy, so a setting added to both reaches the trainer by itself."""
        shared = {f.name: getattr(settings, f.name) for f in dataclasses.fields(cls) if hasattr(settings, f.name)}
        return cls(**{**shared, **overrides})


@dataclass
class TrainerState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps run, skipped ones included (the schedule's clock)
    lr_scale: float = 1.0  # plateau decay factor applied on top of the schedule
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the monitored metric last improved
    skipped_steps: int = 0  # steps skipped for a non-finite loss or gradient norm, in total
    history: list = field(default_factory=list)


def adamw(params, lr: float, weight_decay: float = 1e-2) -> torch.optim.AdamW:
    """AdamW with the fused kernel (CPU and CUDA): it applies or skips the update on the
    device from `found_inf`, which keeps `Trainer.train_step` free of host syncs."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


def rng_state() -> dict:
    """This process's RNG states (torch, python, numpy, CUDA): what a resumed run must continue from."""
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(rng: dict) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])


def move_to(batch, device):
    """Move a Batch (anything with .to) or a tuple/list of tensors to `device`."""
    if hasattr(batch, "to"):
        return batch.to(device, non_blocking=True)
    return type(batch)(move_to(b, device) for b in batch)


class Trainer:
    """Fit `model` with `loss_fn(model, batch) -> scalar loss` and `evaluate(model) -> {metric: value}`.

    `model` may be DDP-wrapped (then only the process with `is_main` writes checkpoints).
    `extra` is stored in every checkpoint (config, phone set, CMVN...) so a checkpoint
    is self-contained for decoding.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
                 cfg: TrainerConfig, *, ckpt_dir, device="cpu", evaluate: Callable | None = None,
                 extra: dict | None = None, is_main: bool = True):
        self.model, self.optimizer, self.loss_fn, self.cfg = model, optimizer, loss_fn, cfg
        self.core = distributed.unwrap(model)  # the bare model inside a DDP wrapper
        self.is_main = is_main  # under DDP only rank 0 writes checkpoints
        self.ckpt_dir, self.device = Path(ckpt_dir), torch.device(device)
        self.evaluate, self.extra = evaluate, extra or {}
        self.state = TrainerState()
        self.use_amp = cfg.amp and self.device.type == "cuda"

    # ---- checkpoints -------------------------------------------------------------------
    def _snapshot(self, rng_ranks: list | None = None) -> dict:
        """`rng_ranks`: every rank's rng_state() under DDP (distributed.all_gather), kept as "rng_ranks"."""
        ranks = {"rng_ranks": rng_ranks} if rng_ranks and len(rng_ranks) > 1 else {}
        return {
            "model": self.core.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "trainer": self.state.__dict__.copy(),
            "rng": rng_ranks[0] if rng_ranks else rng_state(),  # this (main) rank's
            **ranks,
            **self.extra,
        }

    def _save_epoch(self, improved: bool, rng_ranks: list | None = None) -> None:
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        snap, epoch = self._snapshot(rng_ranks), self.state.epoch
        checkpoint.save(snap, self.ckpt_dir / f"epoch-{epoch}.pt")
        if improved:
            checkpoint.save(snap, self.ckpt_dir / "best.pt")
        checkpoint.save(snap, self.ckpt_dir / "last.pt")  # written last: "last" is always complete
        old = sorted(self.ckpt_dir.glob("epoch-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
        keep_epochs = {h["epoch"] for h in self.best_epochs(self.cfg.keep_checkpoints)}
        for p in old[: -self.cfg.keep_checkpoints] if self.cfg.keep_checkpoints else []:
            if int(p.stem.split("-")[1]) not in keep_epochs:
                p.unlink(missing_ok=True)

    def best_epochs(self, n: int) -> list[dict]:
        """History rows of the n best epochs by the monitored metric."""
        rows = [h for h in self.state.history if self.cfg.monitor in h]
        return sorted(rows, key=lambda h: h[self.cfg.monitor] * (1 if self.cfg.mode == "min" else -1))[:n]

    def resume(self) -> bool:
        """Load `last.pt` if present; return whether training resumed."""
        path = self.ckpt_dir / "last.pt"
        if not path.is_file():
            log.info("no checkpoint in %s: starting from scratch", self.ckpt_dir)
            return False
        snap = checkpoint.load(path, map_location=self.device)
        if "config" in self.extra:  # continuing another experiment's training would mix two configs
            try:  # the comparison of experiment.why_retrain: one verdict for --resume and stage 3
                change = config_change(snap.get("config") or {}, self.extra["config"])
            except ConfigError as e:
                change = f"a config this version cannot read: {e}"
            if change:
                raise checkpoint.CheckpointError(
                    f"{path}: cannot resume, the checkpoint was trained with another config ({change}); "
                    "train from scratch (run.sh --force true) or restore the old config")
        checkpoint.load_weights(self.core, snap["model"], path)
        # how to step (fused, foreach...) belongs to this run, not to the checkpoint: a checkpoint
        # of a non-fused optimizer must not turn off the fused kernel the step relies on
        for saved, current in zip(snap["optimizer"]["param_groups"], self.optimizer.param_groups):
            saved.update({k: current[k] for k in ("fused", "foreach", "capturable") if k in current})
        self.optimizer.load_state_dict(snap["optimizer"])
        self.state = TrainerState(**snap["trainer"])
        self._restore_rng(snap)
        log.info("resumed from %s after epoch %d (step %d)", path, self.state.epoch, self.state.step)
        return True

    def _restore_rng(self, snap: dict) -> None:
        """Each rank continues its own RNG streams (its dropout, its SpecAugment masks). A checkpoint
        of another number of ranks (or of before per-rank states) has only rank 0's: the other ranks
        derive a stream of their own from it."""
        rank, world = distributed.rank_and_world()
        states = snap.get("rng_ranks") or [snap["rng"]]
        set_rng_state(states[rank] if len(states) == world else states[0])
        if len(states) != world and rank > 0:
            torch.manual_seed(int(torch.randint(2**62, ())) + rank)
            log.warning("rank %d: the checkpoint has the RNG states of %d process(es), not %d: "
                        "this rank draws from a stream derived from rank 0's", rank, len(states), world)

    # ---- loop --------------------------------------------------------------------------
    def _set_lr(self, total_steps: int) -> float:
        c = self.cfg
        lr = c.lr * self.state.lr_scale * lr_factor(c.schedule, self.state.step, c.warmup_steps, total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_step(self, batch, total_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on `batch` (already on the device). Returns (loss, skipped) as
        device tensors: `skipped` is True when the loss or the gradient norm was not finite
        and the update was not applied. The benchmark times exactly this.

        With a fused optimizer (see `adamw`) the skip happens on the device, so the step
        has no host-device sync; other optimizers read the flag on the host."""
        self._set_lr(total_steps)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
            loss = self.loss_fn(self.model, batch)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        skipped = ~(torch.isfinite(loss.detach()) & torch.isfinite(norm))
        if torch.distributed.is_initialized():  # all ranks skip together (an async op: no host sync)
            flag = skipped.to(torch.int32)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            skipped = flag.bool()
        if all(g.get("fused") for g in self.optimizer.param_groups):  # the kernel skips where found_inf
            self.optimizer.found_inf = skipped.to(torch.float32)
            self.optimizer.step()
        elif not skipped.item():
            self.optimizer.step()
        self.state.step += 1  # steps taken or skipped: the schedule moves on either way
        return loss.detach(), skipped

    def _train_epoch(self, loader, total_steps: int) -> float:
        """Train one epoch; return the mean loss of the applied steps. Non-finite steps are
        counted on the device and checked every `max_bad_steps` steps (one sync each)."""
        self.model.train()
        zero = torch.zeros((), device=self.device)
        loss_sum, n_bad, run, worst_run = zero.clone(), zero.clone(), zero.clone(), zero.clone()
        n_steps, t0 = 0, time.time()
        for i, batch in enumerate(loader):
            loss, skipped = self.train_step(move_to(batch, self.device), total_steps)
            bad = skipped.to(zero.dtype)
            loss_sum += torch.where(skipped, zero, loss.float())
            n_bad += bad
            run = (run + bad) * bad  # current streak of skipped steps
            worst_run = torch.maximum(worst_run, run)
            n_steps += 1
            if self.cfg.max_bad_steps and n_steps % self.cfg.max_bad_steps == 0:
                self._check_bad_streak(worst_run)
            if self.cfg.log_every and n_steps % self.cfg.log_every == 0:
                log.info("epoch %d step %d: loss %.3f lr %.2e (%.1f steps/s)", self.state.epoch + 1, n_steps,
                         loss.item(), self.optimizer.param_groups[0]["lr"], n_steps / (time.time() - t0))
        n_bad_total = int(n_bad.item())
        if n_bad_total:
            self.state.skipped_steps += n_bad_total
            log.warning("epoch %d: %d of %d steps had a non-finite loss or gradient and were skipped",
                        self.state.epoch + 1, n_bad_total, n_steps)
        if self.cfg.max_bad_steps:
            self._check_bad_streak(worst_run)
        n_applied = n_steps - n_bad_total
        return loss_sum.item() / n_applied if n_applied else math.nan  # nan: no step applied, never "best"

    def _check_bad_streak(self, worst_run: torch.Tensor) -> None:
        streak = int(worst_run.item())
        if streak >= self.cfg.max_bad_steps:
            raise TrainingError(f"{streak} non-finite losses in a row: stopping "
                                "(lower the learning rate or check the data)")

    def _improved(self, value: float) -> bool:
        best = self.state.best
        return best is None or (value < best if self.cfg.mode == "min" else value > best)

    def fit(self, train_loader, *, resume: bool = False) -> list[dict]:
        """Train until `cfg.epochs` (or early stop). Returns the per-epoch history."""
        if not (resume and self.resume()) and self.is_main:
            # a fresh run: per-epoch checkpoints of an older run must not be mistaken for ours
            for old in self.ckpt_dir.glob("epoch-*.pt"):
                old.unlink()
        total_steps = self.cfg.epochs * len(train_loader)
        while self.state.epoch < self.cfg.epochs:
            if self.cfg.early_stop_patience and self.state.bad_epochs >= self.cfg.early_stop_patience:
                log.info("early stop: no %s improvement for %d epochs", self.cfg.monitor, self.state.bad_epochs)
                break
            t0 = time.time()
            sampler = getattr(train_loader, "batch_sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.state.epoch)
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss = self._train_epoch(train_loader, total_steps)
            metrics = {}
            if self.evaluate is not None:
                self.model.eval()
                with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                    metrics = self.evaluate(self.model)
                # rank 0's figures decide everywhere (best epoch, plateau, early stop): a rank's BatchNorm
                # statistics are its own (distributed.wrap), and its dev figures may differ slightly
                metrics = distributed.from_main(metrics)
            self.state.epoch += 1
            row = {"epoch": self.state.epoch, "train_loss": train_loss, **metrics,
                   "lr": self.optimizer.param_groups[0]["lr"] if self.state.step else lr,
                   "seconds": round(time.time() - t0, 2)}
            value = metrics.get(self.cfg.monitor, train_loss if self.cfg.monitor == "train_loss" else None)
            improved = value is not None and math.isfinite(value) and self._improved(value)
            if improved:
                self.state.best, self.state.best_epoch, self.state.bad_epochs = value, self.state.epoch, 0
            else:
                self.state.bad_epochs += 1
                if self.cfg.plateau_factor and self.state.bad_epochs % max(self.cfg.plateau_patience, 1) == 0:
                    self.state.lr_scale *= self.cfg.plateau_factor
                    log.info("no %s improvement: lr scaled by %g", self.cfg.monitor, self.cfg.plateau_factor)
            self.state.history.append(row)
            rng_ranks = distributed.all_gather(rng_state())  # every rank calls it, rank 0 saves them
            if self.is_main:
                self._save_epoch(improved, rng_ranks)
                log.info("%s", "  ".join(f"{k} {_fmt(v)}" for k, v in row.items()))
        return self.state.history


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3e}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}"
    return str(v)
