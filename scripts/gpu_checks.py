#!/usr/bin/env python3
"""bf16 numerics and torch.compile on a config's training step: figures, not a test.

Why: the trainer runs CUDA steps under bf16 autocast and eagerly. This prints how far a bf16 step's
loss and gradient are from float32 on the same batches (dropout and SpecAugment off, same weights),
and what `torch.compile` of the model costs (compile seconds) and gives (steady step seconds) on
the bucketed batches of a real loader, whose shapes change every step.

    python scripts/gpu_checks.py --config recipes/timit/conf/crdnn.yaml --data /tmp/bench58/data --json out.json
"""
import argparse
import json
import tempfile
import time

import torch

from phonerec.config import load_config
from phonerec.experiment.benchmark import sync
from phonerec.experiment.train import build_training, ctc_step


def no_dropout(model: torch.nn.Module) -> None:
    """Deterministic forward in train mode (cuDNN's LSTM backward needs train mode)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(m, torch.nn.RNNBase):
            m.dropout = 0.0


def loss_and_grad(model, batch, frame_weight: float, bf16: bool, device) -> tuple[float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = ctc_step(model, batch, None, frame_weight)
    loss.backward()
    grad = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
    return loss.item(), grad


def numerics(training, cfg, device, n_batches: int) -> dict:
    model = training.core
    no_dropout(model)
    model.train()
    rows = []
    for i, batch in enumerate(training.train_loader):
        if i == n_batches:
            break
        batch = batch.to(device)
        l32, g32 = loss_and_grad(model, batch, cfg.train.frame_weight, False, device)
        l16, g16 = loss_and_grad(model, batch, cfg.train.frame_weight, True, device)
        rows.append({"loss_fp32": l32, "loss_bf16": l16, "loss_rel_diff": abs(l16 - l32) / abs(l32),
                     "grad_cosine": float(torch.nn.functional.cosine_similarity(g32, g16, dim=0)),
                     "grad_norm_ratio": float(g16.norm() / g32.norm()),
                     "grad_rel_err": float((g16 - g32).norm() / g32.norm())})
    model.zero_grad(set_to_none=True)
    worst = {k: (max if k in ("loss_rel_diff", "grad_rel_err") else min)(r[k] for r in rows)
             for k in ("loss_rel_diff", "grad_cosine", "grad_rel_err")}
    return {"batches": rows, "worst": worst}


def time_steps(training, device, steps: int, warmup: int) -> dict:
    """Wall time of `warmup` first steps (compilation lands here) and of `steps` steady ones."""
    trainer, loader = training.trainer, training.train_loader
    total = 10 * len(loader)
    batches = []
    for epoch in range(4):
        loader.batch_sampler.set_epoch(epoch)
        batches.extend(loader)
        if len(batches) >= warmup + steps:
            break
    batches = [b.to(device) for b in batches[:warmup + steps]]
    timed = batches[warmup:]
    sync(device)
    t0 = time.perf_counter()
    for b in batches[:warmup]:
        trainer.train_step(b, total)
    sync(device)
    t1 = time.perf_counter()
    for b in timed:
        trainer.train_step(b, total)
    sync(device)
    t2 = time.perf_counter()
    frames = sum(int(b.feat_lens.sum()) for b in timed)
    return {"warmup_steps": warmup, "warmup_seconds": round(t1 - t0, 3), "steps": len(timed),
            "seconds_per_step": round((t2 - t1) / max(len(timed), 1), 5),
            "frames_per_s": round(frames / (t2 - t1), 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", help="experiment YAML (default: the built-in defaults)")
    p.add_argument("--data", required=True, help="data folder with manifests/ and fbank/")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--numerics-batches", type=int, default=8)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=10, help="untimed-as-steady first steps (recompiles for new shapes)")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--device", help="default: cuda if available")
    p.add_argument("--json")
    a = p.parse_args(argv)
    cfg = load_config(a.config, a.set)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "torch": torch.__version__}

    def save():  # after every part: a run stopped by a timeout keeps what it measured
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)

    with tempfile.TemporaryDirectory() as tmp:
        training = build_training(cfg, a.data, tmp, device)
        out["numerics"] = numerics(training, cfg, device, a.numerics_batches)
        print("bf16 vs fp32 (worst of batches):", json.dumps(out["numerics"]["worst"]), flush=True)
        save()
        training = build_training(cfg, a.data, tmp, device)  # fresh weights and optimizer for the timing
        out["eager"] = time_steps(training, device, a.steps, a.warmup)
        print("eager:", json.dumps(out["eager"]), flush=True)
        save()
        if not a.no_compile:
            training = build_training(cfg, a.data, tmp, device)
            training.trainer.model = torch.compile(training.trainer.model)  # dynamic shapes after the first recompile
            try:
                out["compiled"] = time_steps(training, device, a.steps, a.warmup)
            except Exception as e:  # a compile failure is a finding, not a crash of the whole check
                out["compiled"] = {"error": f"{type(e).__name__}: {str(e)[:500]}"}
            print("torch.compile:", json.dumps(out["compiled"]), flush=True)
            save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
