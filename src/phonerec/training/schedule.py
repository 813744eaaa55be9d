"""Learning-rate schedules as functions of the step: factor in (0, 1] times the peak lr.

Plain functions (not torch scheduler objects) so the trainer can combine them with a
plateau (NewBob) factor and checkpoint them as two numbers: the step and that factor.
"""
from __future__ import annotations

import math


def lr_factor(kind: str, step: int, warmup: int, total: int, min_ratio: float = 0.02) -> float:
    """Multiplier of the peak lr at optimizer step `step` (0-based).

    cosine: linear warm-up to 1 over `warmup` steps, then cosine down to `min_ratio` at `total`.
    noam: linear warm-up to 1, then decay as sqrt(warmup / step) (Vaswani et al. 2017).
    constant: linear warm-up to 1, then 1.
    """
    s = step + 1
    if warmup > 0 and s <= warmup:
        return s / warmup
    if kind == "constant":
        return 1.0
    if kind == "noam":
        return math.sqrt(max(warmup, 1) / s)
    if kind == "cosine":
        span = max(total - warmup, 1)
        progress = min(max(s - warmup, 0) / span, 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr schedule {kind!r}; use cosine, noam or constant")
