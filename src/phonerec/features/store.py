"""The feature cache of one split on disk, written and read one utterance at a time.

    fbank/<split>.f16    the frames of every utterance, one after another: (sum T, F) float16,
                         little-endian, row-major, no header (numpy.fromfile reads it; `b2sum -l 256`
                         gives its frames_blake2b)
    fbank/<split>.pt     the index: utt_ids, lengths, the analysis settings, the frames file's name,
                         size and digest (a small torch file)
    fbank/<split>.json   what identifies the cache, for up-to-date checks: the index without the
                         per-utterance lists (settings, counts, digests); it changes whenever the
                         frames, the utterances or the settings do

Neither extraction nor training holds a split in memory: `CacheWriter` appends each utterance as it
is computed, and `FeatureCache.utterance` reads one utterance with an ordinary file read. Not a
memory map: the pages of a map count in the process's resident size once touched, so over an epoch
the peak RSS would grow to the size of the corpus (reclaimable, but every memory figure would say
otherwise); a read goes through the page cache all the same.

An interrupted extraction never leaves a cache that looks complete: frames go to a temporary file;
once they are all written the old index is removed, the frames file is renamed into place, then the
identity JSON and, last, the index are written (each atomically). So an index present always
describes the frames beside it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from phonerec.fileio import atomic_path, torch_save, write_json

FORMAT = "phonerec-fbank-2"  # format 1: one torch file with every frame in one tensor (before issue 32)
FRAME_DTYPE = np.dtype("<f2")  # float16, little-endian on every machine
RERUN = "rerun the features stage (./run.sh --stage 2 --force true, or phonerec features --data DIR)"


class FeatureError(ValueError):
    """A feature cache is missing, corrupt or was made with other settings."""


def frames_path(index) -> Path:
    """The frames file beside the index `<split>.pt`: `<split>.f16`."""
    return Path(index).with_suffix(".f16")


def identity_path(index) -> Path:
    """The identity JSON beside the index `<split>.pt`: `<split>.json`."""
    return Path(index).with_suffix(".json")


def _digest():
    return hashlib.blake2b(digest_size=32)  # = `b2sum -l 256`


class _MemoryFrames:
    """(sum T, F) float16 frames already in memory (a cache built by hand, as tests do)."""

    def __init__(self, feats: torch.Tensor):
        self.feats = feats

    def read(self, start: int, n: int) -> torch.Tensor:
        return self.feats[start : start + n]


class _FileFrames:
    """(sum T, F) float16 frames in a raw file, read on demand. The file is opened lazily in each
    process that reads (DataLoader workers included) and never pickled."""

    def __init__(self, path: Path, dim: int):
        self.path, self.dim = path, dim
        self._file, self._pid = None, None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None}

    def read(self, start: int, n: int) -> torch.Tensor:
        """Frames start .. start + n - 1: (n, F) float16, a fresh tensor."""
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = open(self.path, "rb"), os.getpid()  # noqa: SIM115 (kept open for reads)
        buf = np.empty((n, self.dim), dtype=FRAME_DTYPE)
        self._file.seek(start * self.dim * FRAME_DTYPE.itemsize)
        got = self._file.readinto(memoryview(buf).cast("B"))
        if got != buf.nbytes:
            raise FeatureError(f"{self.path}: frames file ends early ({got} of {buf.nbytes} bytes at frame {start}); "
                               + RERUN)
        return torch.from_numpy(buf.astype(np.float16, copy=False))  # a no-op on little-endian machines


class FeatureCache:
    """One split's features: `utt_ids` [N], `lengths` (N,) int64 frames, `config` (the analysis
    settings), and the frames of utterance i, (T_i, F) float16, from `utterance(i)`.

    `FeatureCache.load(path)` opens a cache on disk, whose frames stay there and are read as asked;
    `FeatureCache(utt_ids, lengths, feats, config)` wraps frames in memory ((sum T, F) float16), which
    `save` writes out in the same format.
    """

    def __init__(self, utt_ids: list[str], lengths: torch.Tensor, feats, config: dict, info: dict | None = None):
        self.utt_ids = utt_ids
        self.lengths = lengths  # (N,) int64
        self.config = config
        self._frames = _MemoryFrames(feats) if isinstance(feats, torch.Tensor) else feats
        self.dim = feats.shape[1] if isinstance(feats, torch.Tensor) else feats.dim
        self.n_frames = int(lengths.sum())
        self._offsets = None
        self.info = info or {}  # a loaded cache: its identity (identity_path), digests included
        if isinstance(feats, torch.Tensor) and feats.shape[0] != self.n_frames:
            raise ValueError(f"feature cache: {feats.shape[0]} frames, the lengths add up to {self.n_frames}")

    @property
    def offsets(self) -> torch.Tensor:
        """(N,) int64: the first frame of each utterance in the split's frames."""
        if self._offsets is None:
            self._offsets = torch.cumsum(self.lengths, 0) - self.lengths
        return self._offsets

    def frames(self, start: int, n: int) -> torch.Tensor:
        """(n, F) float16: frames start .. start + n - 1 of the split (utterances one after another)."""
        return self._frames.read(start, n)

    def utterance(self, i: int) -> torch.Tensor:
        """(T, F) float16 frames of utterance i."""
        return self.frames(int(self.offsets[i]), int(self.lengths[i]))

    def chunks(self, max_frames: int = 1 << 16):
        """The split's frames in order, (<= max_frames, F) float16 blocks: a pass in bounded memory."""
        for start in range(0, self.n_frames, max_frames):
            yield self.frames(start, min(max_frames, self.n_frames - start))

    def save(self, path) -> None:
        """Write this cache at `path` (the index, `<split>.pt`), its frames and identity beside it."""
        with CacheWriter(path, self.config, self.dim) as w:
            for utt_id, offset, n in zip(self.utt_ids, self.offsets.tolist(), self.lengths.tolist()):
                w.add(utt_id, self.frames(offset, n))

    @classmethod
    def load(cls, path) -> "FeatureCache":
        """Open the cache whose index is `path`; the frames are only checked for size here."""
        path = Path(path)
        if not path.is_file():
            raise FeatureError(f"{path}: feature cache not found (run the features stage first)")
        try:  # mmap: an old single-file cache is recognised without reading its frames
            d = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:
            raise FeatureError(f"{path}: corrupt feature cache ({e}); delete it and rerun the features stage") from None
        if isinstance(d, dict) and "feats" in d and "format" not in d:
            raise FeatureError(f"{path}: a feature cache in the old single-file format (all frames in one tensor, "
                               f"read whole into memory): {RERUN}")
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            found = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise FeatureError(f"{path}: not a feature cache of this phonerec (format {found!r}, "
                               f"expected {FORMAT!r}): {RERUN}")
        try:
            utt_ids, lengths, config = list(d["utt_ids"]), d["lengths"].clone().long(), d["config"]
            info = {k: v for k, v in d.items() if k not in ("utt_ids", "lengths")}
            dim, n_frames = int(info["dim"]), int(info["n_frames"])
            frames = path.parent / info["frames_file"]
        except Exception as e:
            raise FeatureError(f"{path}: corrupt feature cache ({e!r} missing or wrong); {RERUN}") from None
        if len(utt_ids) != len(lengths) or int(lengths.sum()) != n_frames:
            raise FeatureError(f"{path}: inconsistent feature cache (lengths do not match frames)")
        if not frames.is_file():
            raise FeatureError(f"{frames}: frames file of {path} not found; {RERUN}")
        size, expected = frames.stat().st_size, n_frames * dim * FRAME_DTYPE.itemsize
        if size != expected:
            raise FeatureError(f"{frames}: {size} bytes, its index {path} says {n_frames} frames x {dim} bins "
                               f"= {expected} bytes; {RERUN}")
        return cls(utt_ids, lengths, _FileFrames(frames, dim), config, info)


class CacheWriter:
    """Write a split's cache one utterance at a time, in memory that does not grow with the corpus:

        with CacheWriter(data / "fbank" / "train.pt", config, n_mels) as w:
            w.add(utt_id, feats)  # (T, F) float16, for every utterance in order

    The frames are hashed (BLAKE2b) as they are written, so the identity costs no second read.
    Leaving the block normally puts the cache in place (module docstring: in which order); leaving
    it with an exception removes what was written and leaves the previous cache, if any, as it was.
    """

    def __init__(self, path, config: dict, dim: int):
        self.path, self.config, self.dim = Path(path), dict(config), int(dim)
        self.utt_ids: list[str] = []
        self.lengths: list[int] = []
        self._frames_hash, self._utts_hash = _digest(), _digest()
        self._atomic = self._file = None

    def __enter__(self) -> "CacheWriter":
        self._atomic = atomic_path(frames_path(self.path))
        self._file = open(self._atomic.__enter__(), "wb")  # noqa: SIM115 (closed in __exit__)
        return self

    def add(self, utt_id: str, feats: torch.Tensor) -> None:
        """Append utterance `utt_id`: feats (T, F) float16."""
        if feats.dtype != torch.float16 or feats.dim() != 2 or feats.shape[1] != self.dim:
            raise ValueError(f"{utt_id}: features must be (T, {self.dim}) float16, "
                             f"got {tuple(feats.shape)} {feats.dtype}")
        data = feats.detach().cpu().contiguous().numpy().astype(FRAME_DTYPE, copy=False).tobytes()
        self._file.write(data)
        self._frames_hash.update(data)
        self._utts_hash.update(f"{utt_id} {feats.shape[0]}\n".encode())
        self.utt_ids.append(utt_id)
        self.lengths.append(int(feats.shape[0]))

    def identity(self) -> dict:
        """What identifies the cache (written to `<split>.json` and into the index)."""
        return {"format": FORMAT, "config": self.config, "dim": self.dim, "utterances": len(self.utt_ids),
                "n_frames": sum(self.lengths), "frames_file": frames_path(self.path).name,
                "frames_blake2b": self._frames_hash.hexdigest(), "utterances_blake2b": self._utts_hash.hexdigest()}

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._file.close()
        if exc_type is not None:
            self._atomic.__exit__(exc_type, exc, tb)  # removes the temporary frames file
            return False
        # the old index goes first: from here until the new index is written there is no cache
        self.path.unlink(missing_ok=True)
        identity_path(self.path).unlink(missing_ok=True)
        self._atomic.__exit__(None, None, None)  # frames renamed into place
        identity = self.identity()
        write_json(identity_path(self.path), identity)
        torch_save({**identity, "utt_ids": self.utt_ids, "lengths": torch.tensor(self.lengths, dtype=torch.long)},
                   self.path)
        return False
