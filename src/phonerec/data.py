"""Dataset over a cached split, duration-bucketed batch sampler, and the padding collate.

Utterances are sorted by length and cut into batches by a padded-frames budget, so a
batch of short utterances holds many and a batch of long ones few, with little padding.
The batches are fixed; only their order is shuffled each epoch (seeded), as in the seeds.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from phonerec.features.fbank import FeatureCache, normalize
from phonerec.phones import PhoneTokenizer, fold
from phonerec.segments import merge_segments

log = logging.getLogger(__name__)


# A tensor that stays on the CPU whatever device its Batch is moved to (Batch's lengths).
CpuTensor = torch.Tensor


@dataclass
class Batch:
    """One padded batch. Device contract: `to(device)` moves the padded tensors (feats, targets,
    frame_targets); the lengths are CpuTensor and stay on the CPU, because packing and CTC take CPU
    lengths and keeping them there saves a device-to-host sync in every step. So on a GPU a length
    must not meet a model output in arithmetic ((N,) CPU with CUDA fails): bring the output to the
    host (`loss.cpu() / batch.target_lens`) or the length to the device (`.to(loss.device)`)."""
    feats: torch.Tensor  # (N, T, F) float32, zero-padded; on the batch's device
    feat_lens: CpuTensor  # (N,) int64, always on the CPU
    targets: torch.Tensor  # (N, S) int64 phone ids, zero-padded (0 is the blank, never a target); on the device
    target_lens: CpuTensor  # (N,) int64, always on the CPU
    utt_ids: list[str]
    frame_targets: torch.Tensor | None = None  # (N, T) int64 phone id per feature frame, -100 padded; None: no times

    def __post_init__(self):
        for name in ("feat_lens", "target_lens"):
            if getattr(self, name).device.type != "cpu":  # an attribute, not a value: no sync
                raise ValueError(f"Batch.{name} must stay on the CPU (see Batch), got {getattr(self, name).device}")

    def to(self, device, non_blocking: bool = False) -> "Batch":
        """The padded tensors on `device`; the lengths stay on the CPU (see Batch)."""
        ft = None if self.frame_targets is None else self.frame_targets.to(device, non_blocking=non_blocking)
        return Batch(self.feats.to(device, non_blocking=non_blocking), self.feat_lens,
                     self.targets.to(device, non_blocking=non_blocking), self.target_lens, self.utt_ids, ft)

    def pin_memory(self) -> "Batch":
        """Called by the DataLoader with pin_memory=True, so the copy to the GPU can overlap."""
        ft = None if self.frame_targets is None else self.frame_targets.pin_memory()
        return Batch(self.feats.pin_memory(), self.feat_lens, self.targets.pin_memory(), self.target_lens,
                     self.utt_ids, ft)

    def __len__(self) -> int:
        return len(self.utt_ids)


def split_speed(utt_id: str) -> tuple[str, float]:
    """(manifest utterance id, speed factor) of a cached copy `<utt>-sp0.9`; (utt_id, 1.0) for an original."""
    base, _, speed = utt_id.partition("-sp")
    return base, float(speed) if speed else 1.0


def frame_labels(row: dict, n_frames: int, hop: int, tokenizer: PhoneTokenizer, phone_set: int,
                 speed: float = 1.0) -> torch.Tensor | None:
    """(n_frames,) int64 phone id of each feature frame from a manifest row's `phn` and
    `ground_truth_phn_ends` (None when the row has no times).

    Frame t is centred on sample t * hop (features.Fbank); its label is the phone covering that
    sample (a phone covers (start, end]: a centre exactly on a boundary goes to the earlier phone),
    after folding to `phone_set` by the shared rule (segments.merge_segments: q gives
    its time to the previous phone, equal neighbours merge). A speed-perturbed copy at speed s was
    resampled so that its sample n is original sample n * s. Frames past the last end take the
    last phone."""
    ends_s = str(row.get("ground_truth_phn_ends") or "").split()
    phones = row["phn"].split()
    if not ends_s or len(ends_s) != len(phones):
        return None
    ends = [int(x) for x in ends_s]
    segs = merge_segments(list(zip([0] + ends[:-1], ends, phones)), phone_set)  # in samples
    seg_ends = np.array([e for _, e, _ in segs], dtype=np.float64)
    ids = np.array(tokenizer.encode([p for *_, p in segs]), dtype=np.int64)
    centres = np.arange(n_frames, dtype=np.float64) * hop * speed
    k = np.minimum(np.searchsorted(seg_ends, centres, side="left"), len(segs) - 1)
    return torch.from_numpy(ids[k])


class PhoneDataset(torch.utils.data.Dataset):
    """Normalised features of one split with their phone-id targets.

    `manifest` gives the 61-phone labels; they are folded to the tokenizer's set. A cached
    copy `<utt>-sp0.9` (speed perturbation) takes the labels of `<utt>`. When rows carry
    `ground_truth_phn_ends`, `frame_targets[i]` gives each utterance's frame labels (frame_labels), all
    -100 (ignored) for a row without times: real speech whose phones are known but not where they lie,
    trained beside speech with exact times (recipes/english), teaches CTC and not the frame head. When no
    row has times `frame_targets` is None (and so is Batch.frame_targets).

    Nothing per frame is held in memory: item i reads its frames from the cache (FeatureCache, on
    disk), normalises them and makes its frame labels when asked, so memory grows only with the
    number of utterances (ids, lengths, targets). Works with DataLoader workers: each opens the
    cache's frames file itself.
    """

    def __init__(self, cache: FeatureCache, manifest: dict, tokenizer: PhoneTokenizer, phone_set: int, cmvn: dict,
                 per_utterance: bool = False):
        self.cache, self.cmvn, self.per_utterance = cache, cmvn, per_utterance
        self.utt_ids = list(cache.utt_ids)
        self.lengths = cache.lengths.tolist()
        self.offsets = cache.offsets.tolist()  # first frame of each utterance in the cache
        self.targets, rows, self.speeds = [], [], []
        by_base = {}  # the speed copies of an utterance share its target tensor
        for utt_id in self.utt_ids:
            base, speed = split_speed(utt_id)
            if base not in manifest:
                raise KeyError(f"feature cache has utterance {utt_id!r} that the manifest lacks; rerun the features stage")
            if base not in by_base:
                by_base[base] = torch.tensor(tokenizer.encode(fold(manifest[base]["phn"].split(), phone_set)),
                                             dtype=torch.long)
            self.targets.append(by_base[base])
            rows.append(manifest[base])
            self.speeds.append(speed)
        # frame labels need times that match the phones (frame_labels gives None otherwise)
        self.n_timed = sum(_times_match(r) for r in rows)
        self.rows = rows if self.n_timed else None  # kept only for frame labels
        if self.rows is not None:
            self.hop = int(round(cache.config["sample_rate"] * cache.config["hop_ms"] / 1000))
            self.tokenizer, self.phone_set = tokenizer, phone_set

    @property
    def frame_targets(self) -> FrameTargets | None:
        """frame_targets[i]: (T_i,) int64 frame labels of item i, made when asked; None without times."""
        return None if self.rows is None else FrameTargets(self)

    def frame_labels(self, i: int) -> torch.Tensor:
        """(T,) int64 phone id of each frame of item i (frame_labels; the split must have times), all -100
        (cross-entropy's ignore_index) when the item's row has none."""
        labels = frame_labels(self.rows[i], self.lengths[i], self.hop, self.tokenizer, self.phone_set, self.speeds[i])
        return torch.full((self.lengths[i],), -100, dtype=torch.long) if labels is None else labels

    def features(self, i: int) -> torch.Tensor:
        """(T, F) float32 normalised features of item i (features.normalize, as features.cmvn says)."""
        feats = self.cache.frames(self.offsets[i], self.lengths[i])  # (T, F) float16, read from the cache
        return normalize(feats, self.cmvn, [self.lengths[i]] if self.per_utterance else None)

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __getitem__(self, i: int):
        """(feats (T, F), target ids (S,), utt_id), plus the frame labels (T,) when the split has them."""
        if self.rows is None:
            return self.features(i), self.targets[i], self.utt_ids[i]
        return self.features(i), self.targets[i], self.utt_ids[i], self.frame_labels(i)

    def drop(self, keep: list[bool]) -> None:
        """Keep only the utterances where `keep` is True (e.g. after an alignment check)."""
        for name in ("utt_ids", "lengths", "offsets", "targets", "rows", "speeds"):
            if getattr(self, name) is not None:
                setattr(self, name, [x for x, k in zip(getattr(self, name), keep) if k])


def _times_match(row: dict) -> bool:
    """Whether a manifest row has one phone end per phone (what frame_labels needs)."""
    ends = str(row.get("ground_truth_phn_ends") or "").split()
    return bool(ends) and len(ends) == len(row["phn"].split())


class FrameTargets:
    """The frame labels of a PhoneDataset's items as a sequence, each made when asked."""

    def __init__(self, dataset: PhoneDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.dataset.frame_labels(i)


class BucketBatchSampler(torch.utils.data.Sampler):
    """Yield lists of indices: length-sorted batches under a padded-frames budget.

    Batch composition is fixed; each epoch shuffles the batch order with `seed + epoch`
    (call `set_epoch`), so a resumed run replays the same order. With `num_replicas` > 1
    (DDP) each rank takes every num_replicas-th batch of the shuffled order.
    """

    def __init__(self, lengths: list[int], max_frames: int, *, shuffle: bool, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0):
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # longest first
        self.batches: list[list[int]] = []
        batch: list[int] = []
        for i in order:
            longest = lengths[batch[0]] if batch else lengths[i]
            if batch and longest * (len(batch) + 1) > max_frames:
                self.batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            self.batches.append(batch)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.num_replicas, self.rank = num_replicas, rank
        if num_replicas > 1 and len(self.batches) % num_replicas:
            # every rank must run the same number of steps: repeat the first (longest) batches
            pad = num_replicas - len(self.batches) % num_replicas
            self.batches += self.batches[:pad]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = list(range(len(self.batches)))
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        for k in order[self.rank :: self.num_replicas]:
            yield self.batches[k]

    def __len__(self) -> int:
        return len(self.batches) // self.num_replicas


def collate(items) -> Batch:
    """Pad a list of (feats (T, F), target ids (S,), utt_id[, frame labels (T,) or None]) into a Batch;
    frame labels are padded with -100 (cross-entropy's ignore_index), None if any item lacks them."""
    feats, targets, utt_ids, *rest = zip(*items)
    frames = rest[0] if rest else (None,)
    return Batch(
        pad_sequence(feats, batch_first=True),  # (N, T, F)
        torch.tensor([f.shape[0] for f in feats], dtype=torch.long),
        pad_sequence(targets, batch_first=True),  # (N, S)
        torch.tensor([t.shape[0] for t in targets], dtype=torch.long),
        list(utt_ids),
        None if any(f is None for f in frames) else pad_sequence(frames, batch_first=True, padding_value=-100),
    )


def make_loader(dataset: PhoneDataset, max_frames: int, *, shuffle: bool, seed: int = 0, num_workers: int = 0,
                num_replicas: int = 1, rank: int = 0, device=None) -> torch.utils.data.DataLoader:
    """Bucketed batches of `dataset`; with `device` (where the batches go) pinned when that is a GPU,
    so the copy can overlap (pinning for a CPU run on a GPU machine would only cost memory)."""
    sampler = BucketBatchSampler(dataset.lengths, max_frames, shuffle=shuffle, seed=seed,
                                 num_replicas=num_replicas, rank=rank)
    pin = device is not None and torch.device(device).type == "cuda"
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers,
                                       pin_memory=pin)
