"""CIFAR-10 for the smoke run: the python batches (data_batch_1..5, test_batch) from a local
folder (never downloaded), or a generated look-alike of coloured textures when there is none.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np

from phonerec.smoke.common import ImageSplits, SmokeConfig, SmokeDataError, make_splits

log = logging.getLogger(__name__)

DEFAULTS = SmokeConfig(epochs=5)

SUBFOLDER = "cifar-10-batches-py"  # what the official tarball unpacks to
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"


# ---- real files --------------------------------------------------------------------------
def read_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: a pickled dict with b"data" uint8 (N, 3072) and b"labels".

    Rows are 1024 red, 1024 green, 1024 blue values, each plane row-major 32x32. Returns
    (N, 3, 32, 32) float32 in [0, 1] and int64 labels. It is a pickle: load only a file you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise SmokeDataError(f"{path}: file not found")
    try:
        with path.open("rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as e:  # EOF and the many unpickling errors all mean "corrupt"
        raise SmokeDataError(f"{path}: not a readable CIFAR-10 batch ({str(e) or type(e).__name__})") from None
    if not isinstance(batch, dict):
        raise SmokeDataError(f"{path}: not a CIFAR-10 batch (a {type(batch).__name__}, not a dict)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise SmokeDataError(f"{path}: not a CIFAR-10 batch (no data/labels entries)")
    data, labels = np.asarray(data), np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise SmokeDataError(f"{path}: data is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    if len(labels) != len(data):
        raise SmokeDataError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise SmokeDataError(f"{path}: labels outside 0..9 (min {labels.min()}, max {labels.max()})")
    return data.reshape(-1, 3, 32, 32).astype(np.float32) / 255, labels


def _concat(parts):
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])) if parts else None


def load(data_dir, seed: int = 0) -> ImageSplits:
    """CIFAR-10 from `data_dir` or its cifar-10-batches-py/ subfolder.

    Uses whichever data_batch_N exist; with no test_batch (or no training batch) the images
    there are split 80/20 into train/test (seeded), and the log says so.
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise SmokeDataError(f"{d}: no such data folder")
    if not any((d / n).is_file() for n in TRAIN_BATCHES + [TEST_BATCH]) and (d / SUBFOLDER).is_dir():
        d = d / SUBFOLDER
    found = [n for n in TRAIN_BATCHES if (d / n).is_file()]
    train = _concat([read_batch(d / n) for n in found])
    test = read_batch(d / TEST_BATCH) if (d / TEST_BATCH).is_file() else None
    if train is None and test is None:
        raise SmokeDataError(f"{d}: no CIFAR-10 batches (expected data_batch_1..5 and test_batch, "
                             f"possibly in {SUBFOLDER}/)")
    if found and len(found) < len(TRAIN_BATCHES):
        log.warning("%s: only %s of the 5 training batches", d, ", ".join(found))
    splits = make_splits(train, test, seed=seed, source=f"CIFAR-10 batches in {d}")
    if train is None or test is None:
        log.warning("%s", splits.source)
    return splits


# ---- generated look-alike ----------------------------------------------------------------
_PALETTE = np.array([  # a typical foreground colour per class, jittered per image
    [.9, .2, .2], [.2, .8, .2], [.2, .3, .9], [.9, .8, .1], [.8, .2, .8],
    [.1, .8, .8], [.95, .5, .1], [.5, .3, .15], [.6, .6, .6], [.3, .1, .5]], dtype=np.float32)


def _pattern(k: int, u, v, rng: np.random.Generator):
    """Class-k texture in [0, 1] on the (N, 32, 32) grid u, v in [-1, 1], with per-image frequency and phase."""
    n = len(u)

    def r(lo, hi):
        return rng.uniform(lo, hi, (n, 1, 1)).astype(np.float32)

    f, ph, tilt = r(4, 9), r(0, 2 * np.pi), r(-0.25, 0.25)
    cu, cv = r(-0.4, 0.4), r(-0.4, 0.4)
    rad = np.hypot(u - cu, v - cv)
    if k in (0, 1, 2, 3):  # stripes, wave direction 0, 90, 45 or 135 degrees
        a = np.pi / 4 * [0, 2, 1, 3][k] + tilt
        return 0.5 + 0.5 * np.sin(f * (np.cos(a) * u + np.sin(a) * v) + ph)
    if k == 4:  # checkerboard
        return 0.5 + 0.5 * np.sign(np.sin(f * u + ph) * np.sin(f * v + ph))
    if k == 5:  # rings around an off-centre point
        return 0.5 + 0.5 * np.sin(f * 1.5 * rad + ph)
    if k == 6:  # spokes
        return 0.5 + 0.5 * np.sin(np.round(f) * np.arctan2(v - cv, u - cu) + ph)
    if k == 7:  # a soft disc
        return 1 / (1 + np.exp((rad - r(0.3, 0.6)) * 20))
    if k == 8:  # a square
        return ((np.abs(u - cu) < r(0.25, 0.5)) & (np.abs(v - cv) < r(0.25, 0.5))).astype(np.float32)
    return np.clip(0.5 + (np.cos(ph) * u + np.sin(ph) * v) * r(0.4, 0.7), 0, 1)  # a smooth ramp


def lookalike_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) float32 coloured textures, one texture kind per class, with colour and pixel noise."""
    y = rng.integers(0, 10, n)
    v, u = np.meshgrid(np.linspace(-1, 1, 32, dtype=np.float32), np.linspace(-1, 1, 32, dtype=np.float32),
                       indexing="ij")
    p = np.empty((n, 32, 32), np.float32)
    for k in range(10):
        idx = np.flatnonzero(y == k)
        p[idx] = _pattern(k, np.broadcast_to(u, (len(idx), 32, 32)), np.broadcast_to(v, (len(idx), 32, 32)), rng)
    fg = np.clip(_PALETTE[y] + rng.normal(0, 0.2, (n, 3)), 0, 1).astype(np.float32)
    bg = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    x = bg[:, :, None, None] + (fg - bg)[:, :, None, None] * p[:, None]
    x = np.clip(x + rng.normal(0, 0.08, x.shape), 0, 1).astype(np.float32)
    return x, y.astype(np.int64)


def synthetic(seed: int = 0, n_train: int = 6000, n_test: int = 1000) -> ImageSplits:
    """A deterministic (for `seed`) CIFAR-10 look-alike, so the smoke run needs no files at all."""
    x, y = lookalike_images(n_train + n_test, np.random.default_rng(seed))
    source = f"CIFAR-10 look-alike (generated coloured textures, seed {seed}; NOT real CIFAR-10)"
    return make_splits((x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), seed=seed, source=source)
