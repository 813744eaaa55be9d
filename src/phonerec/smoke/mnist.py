"""MNIST for the smoke run: the IDX gz files or the course notes' mnist.pkl.gz from a local
folder (never downloaded), or a generated look-alike of seven-segment digits when there is none.
"""
from __future__ import annotations

import gzip
import logging
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from phonerec.smoke.common import ImageSplits, SmokeConfig, SmokeDataError, make_splits

log = logging.getLogger(__name__)

DEFAULTS = SmokeConfig(epochs=3)

IMAGES_MAGIC, LABELS_MAGIC = 0x0803, 0x0801  # ubyte data, 3-d / 1-d
IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
PICKLE_NAME = "mnist.pkl.gz"


# ---- real files --------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file starts with the gzip magic (so .gz or not both work)."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except FileNotFoundError:
        raise SmokeDataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise SmokeDataError(f"{path}: not a readable gzip file ({e or type(e).__name__})") from None


def read_idx(path, magic: int | None = None) -> np.ndarray:
    """Parse an IDX file: 2 zero bytes, a type byte, a dims byte, big-endian uint32 dims, then the data.

    `magic` (e.g. 0x0803 for ubyte images) rejects a file of the wrong kind with its name.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise SmokeDataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    (found,) = struct.unpack(">I", data[:4])
    code, ndim = (found >> 8) & 0xFF, found & 0xFF
    if found >> 16 or code not in IDX_DTYPES or ndim == 0:
        raise SmokeDataError(f"{path}: not an IDX file (magic 0x{found:08x})")
    if magic is not None and found != magic:
        raise SmokeDataError(f"{path}: IDX magic 0x{found:08x} ({ndim}-d), expected 0x{magic:08x}; wrong file?")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise SmokeDataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise SmokeDataError(f"{path}: {len(data) - header} data bytes but the header {dims} needs {expected} "
                             "(truncated or corrupt)")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)


def _images_labels(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert to (N, 1, H, W) float32 in [0, 1] and int64 labels 0..9."""
    if len(x) != len(y):
        raise SmokeDataError(f"{where}: {len(x)} images but {len(y)} labels")
    y = np.asarray(y).astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise SmokeDataError(f"{where}: labels outside 0..9 (min {y.min()}, max {y.max()})")
    x = np.asarray(x)
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.ndim == 2:  # flattened square images, as in mnist.pkl.gz
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise SmokeDataError(f"{where}: rows of {x.shape[1]} values are not square images")
        x = x.reshape(len(x), side, side)
    return x[:, None], y


def _read_pair(folder: Path, split: str):
    """(images, labels) of one IDX split, None when neither file is there."""
    img_stem, lab_stem = IDX_FILES[split]
    img, lab = _find(folder, img_stem), _find(folder, lab_stem)
    if img is None and lab is None:
        return None
    if img is None or lab is None:
        missing = folder / f"{img_stem if img is None else lab_stem}.gz"
        raise SmokeDataError(f"{missing}: file not found (the {split} images and labels come as a pair)")
    return _images_labels(read_idx(img, IMAGES_MAGIC), read_idx(lab, LABELS_MAGIC), str(img))


def load_pickle(path, seed: int = 0) -> ImageSplits:
    """The course notes' mnist.pkl.gz: ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), 784-float rows.

    It is a pickle: load only a file you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise SmokeDataError(f"{path}: file not found")
    try:
        with gzip.open(path, "rb") as f:
            parts = pickle.load(f, encoding="latin1")
    except Exception as e:  # gzip, EOF and the many unpickling errors all mean "corrupt"
        raise SmokeDataError(f"{path}: not a readable {PICKLE_NAME} ({str(e) or type(e).__name__})") from None
    try:
        (tx, ty), (vx, vy), (sx, sy) = parts
    except (TypeError, ValueError):
        raise SmokeDataError(f"{path}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))") from None
    splits = [_images_labels(x, y, f"{path} ({name})") for (x, y), name in
              (((tx, ty), "train"), ((vx, vy), "valid"), ((sx, sy), "test"))]
    return make_splits(splits[0], splits[2], splits[1], seed=seed, source=f"MNIST {path}")


def load(data_dir, seed: int = 0) -> ImageSplits:
    """MNIST from a folder (or an mnist.pkl.gz path): full IDX set, else the pickle, else whichever IDX half exists.

    With only the t10k files the 10,000 test digits are split 80/20 into train/test (seeded).
    """
    d = Path(data_dir)
    if d.is_file():
        return load_pickle(d, seed)
    if not d.is_dir():
        raise SmokeDataError(f"{d}: no such data folder")
    train, test = _read_pair(d, "train"), _read_pair(d, "test")
    if (train is None or test is None) and (d / PICKLE_NAME).is_file():
        return load_pickle(d / PICKLE_NAME, seed)
    if train is None and test is None:
        raise SmokeDataError(f"{d}: no MNIST files (expected {IDX_FILES['train'][0]}.gz and the other IDX gz "
                             f"files, or {PICKLE_NAME})")
    splits = make_splits(train, test, seed=seed, source=f"MNIST IDX files in {d}")
    if train is None or test is None:
        log.warning("%s", splits.source)
    return splits


# ---- generated look-alike ----------------------------------------------------------------
# Seven-segment strokes in digit units (x right, y down; 1 wide, 2 high), made sloppy below.
_SEGMENTS = np.array([
    [[-.5, -1], [.5, -1]], [[.5, -1], [.5, 0]], [[.5, 0], [.5, 1]], [[-.5, 1], [.5, 1]],  # a b c d
    [[-.5, 0], [-.5, 1]], [[-.5, -1], [-.5, 0]], [[-.5, 0], [.5, 0]],  # e f g
], dtype=np.float32)
_DIGITS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]
_ON = np.array([[s in d for s in "abcdefg"] for d in _DIGITS])


def lookalike_digits(n: int, rng: np.random.Generator, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, side, side) float32 seven-segment digits with jittered strokes, slant, size, position and noise."""
    y = rng.integers(0, 10, n)
    gx, gy = (g.reshape(1, 1, -1).astype(np.float32) for g in np.meshgrid(np.arange(side), np.arange(side)))
    pts = _SEGMENTS[None] + rng.normal(0, 0.09, (n, 7, 2, 2)).astype(np.float32)  # wobbly, gappy strokes
    scale = rng.uniform(7.5, 10, n) * side / 28
    theta, shear = rng.normal(0, 0.15, n), rng.normal(0, 0.2, n)
    aspect = rng.uniform(0.7, 1.3, n)
    a = np.zeros((n, 2, 2), np.float32)  # rotation @ [[aspect, shear], [0, 1]] * scale
    c, s = np.cos(theta), np.sin(theta)
    a[:, 0, 0], a[:, 0, 1] = scale * c * aspect, scale * (c * shear - s)
    a[:, 1, 0], a[:, 1, 1] = scale * s * aspect, scale * (s * shear + c)
    centre = (side - 1) / 2 + rng.uniform(-2, 2, (n, 1, 1, 2)).astype(np.float32)
    pts = np.einsum("nij,nsej->nsei", a, pts) + centre
    half_width = rng.uniform(0.8, 1.8, (n, 1, 1)).astype(np.float32)
    x = np.empty((n, side * side), np.float32)
    for i in range(0, n, 256):  # chunks keep the (chunk, 7 segments, pixels) temporaries small
        p = pts[i:i + 256, :, :, :, None]  # (m, 7, end, xy, 1)
        x0, y0, dx, dy = p[:, :, 0, 0], p[:, :, 0, 1], p[:, :, 1, 0] - p[:, :, 0, 0], p[:, :, 1, 1] - p[:, :, 0, 1]
        rx, ry = gx - x0, gy - y0
        t = np.clip((rx * dx + ry * dy) / np.maximum(dx * dx + dy * dy, 1e-6), 0, 1)
        dist = np.hypot(rx - t * dx, ry - t * dy)
        dist[~_ON[y[i:i + 256]]] = np.inf
        x[i:i + 256] = np.clip(half_width[i:i + 256, 0] + 0.5 - dist.min(1), 0, 1)
    x = np.clip(x * rng.uniform(0.7, 1.0, (n, 1)) + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    return x.reshape(n, 1, side, side), y.astype(np.int64)


def synthetic(seed: int = 0, n_train: int = 6000, n_test: int = 1000) -> ImageSplits:
    """A deterministic (for `seed`) MNIST look-alike, so the smoke run needs no files at all."""
    x, y = lookalike_digits(n_train + n_test, np.random.default_rng(seed))
    source = f"MNIST look-alike (generated seven-segment digits, seed {seed}; NOT real MNIST)"
    return make_splits((x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), seed=seed, source=source)
