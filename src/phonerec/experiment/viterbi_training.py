"""Viterbi training of frame labels: the realignment loop of HMM systems, with a narrow-window frame
classifier (models.local_frame) in place of the GMM.

Each iteration trains the classifier on the current frame labels (cross-entropy), scores every frame
with its log posteriors minus the log prior of each phone (the hybrid systems' scaled likelihood, so a
frequent phone such as silence does not win frames by being frequent), and realigns each utterance's
known phones by Viterbi (decoding.timing.viterbi_spans: in order, each at least MIN_FRAMES frames).
Labels from a recognition model (CTC spikes, or a BiLSTM frame head) start it; since the classifier
hears only +-10 ms, a boundary moves to where the sound changes rather than where the start labels
put it (see models.local_frame). The classifier keeps its weights from one iteration to the next and
trains an epoch of 4000-frame batches in each, at least MIN_STEPS steps: retrained from scratch each
time, or trained for a few steps only, it stays too weak and the labels barely move or go astray.

A corpus of hundreds of hours goes through in bounded memory: the features come as a sequence that
reads each utterance when a batch needs it (relabel reads them from the feature cache), the labels are
kept in 2 bytes a frame, and each batch is scored and realigned before the next is scored.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from phonerec.data import BucketBatchSampler
from phonerec.decoding.timing import MIN_FRAMES, viterbi_spans
from phonerec.models.local_frame import LocalFrameClassifier

log = logging.getLogger(__name__)

IGNORE = -100  # padding frames in a batch of labels (cross-entropy's ignore_index)
LABEL_DTYPE = torch.int16  # frame labels as kept between iterations: 2 bytes a frame (a class id < 32768)
# Optimizer steps per iteration at the least (a small corpus trains more epochs): a classifier that has
# barely learned scores every phone near its prior, and Viterbi through such flat scores squeezes the
# phones anywhere (on the tests' 64-utterance corpus, 2 epochs of 4 steps took the labels from 75 % to
# 25 % within 20 ms of the truth; 100 steps took them to 92 %)
MIN_STEPS = 100


def spans_to_labels(spans, ids: list[int]) -> torch.Tensor:
    """(T,) LABEL_DTYPE label of each frame from the [start, end) frame span of each phone id (spans:
    (L, 2) array or L pairs, tiling [0, T))."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    return torch.from_numpy(np.repeat(np.asarray(ids, dtype=np.int16), spans[:, 1] - spans[:, 0]))  # LABEL_DTYPE


def log_priors(labels, n_classes: int) -> torch.Tensor:
    """(C,) log relative frequency of each class over all frames (add-one smoothed), counted utterance
    by utterance (no concatenation of the split's labels)."""
    counts = torch.zeros(n_classes, dtype=torch.long)
    for y in labels:
        counts += torch.bincount(y.long(), minlength=n_classes)
    counts = counts.double() + 1
    return (counts / counts.sum()).log().float()


class Windows:
    """Pieces [start, end) of the utterances of `feats` as a sequence of (T <= window, F) features."""

    def __init__(self, feats, pieces: list[tuple[int, int, int]]):
        self.feats, self.pieces = feats, pieces

    def __len__(self) -> int:
        return len(self.pieces)

    def __getitem__(self, k: int):
        i, start, end = self.pieces[k]
        return self.feats[i][start:end]


def windows(feats, labels: list, window: int | None) -> tuple:
    """(features, labels) to train on: the utterances themselves, or (window set) pieces of at most `window`
    frames cut from each, in order."""
    if not window:
        return feats, labels
    pieces = [(i, s, min(s + window, len(y))) for i, y in enumerate(labels) for s in range(0, len(y), window)]
    return Windows(feats, pieces), [labels[i][s:e] for i, s, e in pieces]


def fit_classifier(model: torch.nn.Module, feats, labels, epochs: int, max_frames: int, seed: int,
                   lr: float = 1e-3, min_steps: int = 0) -> float:
    """Train `model` on every frame of `feats` (each (T, F), read batch by batch) with `labels` (each (T,))
    for `epochs` epochs, more when that is under `min_steps` optimizer steps; the last epoch's mean loss."""
    sampler = BucketBatchSampler([len(y) for y in labels], max_frames, shuffle=True, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    loss_sum = n = 0.0
    for epoch in range(max(epochs, -(-min_steps // max(len(sampler), 1)))):
        sampler.set_epoch(epoch)
        loss_sum = n = 0.0
        for idx in sampler:
            x = pad_sequence([feats[i] for i in idx], batch_first=True)  # (N, T, F)
            y = pad_sequence([labels[i].long() for i in idx], batch_first=True, padding_value=IGNORE)  # (N, T)
            loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum, n = loss_sum + float(loss.detach()), n + 1
    return loss_sum / max(n, 1)


def frame_scores(model: torch.nn.Module, feats, lengths: list[int], prior: torch.Tensor, max_frames: int):
    """Per batch (a generator, so that the caller realigns each batch as it comes and no split's
    scores are held): (the utterances' indices, each one's (T, C) log posteriors minus log priors)."""
    model.eval()
    for idx in BucketBatchSampler(lengths, max_frames, shuffle=False):
        with torch.no_grad():
            scores = model(pad_sequence([feats[i] for i in idx], batch_first=True)).log_softmax(-1) - prior  # (N, T, C)
        yield idx, [scores[k, : lengths[i]].numpy() for k, i in enumerate(idx)]


def viterbi_training(feats, ids: list[list[int]], labels: list[torch.Tensor], n_classes: int, *,
                     iterations: int = 8, epochs: int = 1, min_steps: int = MIN_STEPS, max_frames: int = 4000,
                     seed: int = 0, min_frames: int = MIN_FRAMES, optional: list | None = None,
                     on_iteration=None, train_window: int | None = None) -> tuple[list, list[dict]]:
    """Refine frame labels by `iterations` rounds of train-then-realign, in memory that grows with the
    corpus only by its labels (LABEL_DTYPE) and spans: features are read, and frames scored and
    realigned, one batch at a time.

    feats: a sequence (len, [i]) of each utterance's (T, F) normalised features, read when indexed (a
    list, or a view of a dataset that reads them from disk; only one batch's are held at a time); ids:
    its phone ids in order (every one must get >= 1 frame: T >= len(ids)); labels: its (T,) start labels
    (any integer dtype; their lengths are the utterances' T); optional: per utterance the positions in
    its ids that Viterbi may skip (pauses between words, viterbi_spans), their spans then empty. The
    classifier keeps its weights from one iteration to the next (each trains `epochs` more epochs, or
    `min_steps` steps if that is more). `on_iteration(k, spans)` is called after each realignment (e.g.
    to measure the labels against reference times). `train_window`: the classifier trains on pieces of at
    most that many frames cut from each utterance (realignment still takes whole utterances), so that a
    corpus of a few long recordings costs per step what one of many short ones does.
    Returns (per utterance the (L, 2) int32 array of each phone's [start, end) frame span after the last
    iteration, per iteration {iteration, train_loss, changed_frames_pct, seconds})."""
    if n_classes > torch.iinfo(LABEL_DTYPE).max:
        raise ValueError(f"{n_classes} classes do not fit the frame labels' {LABEL_DTYPE}")
    torch.manual_seed(seed)
    optional = optional or [()] * len(ids)
    lengths = [len(y) for y in labels]
    labels = list(labels)  # replaced utterance by utterance below; the caller's list stays as it was
    model = LocalFrameClassifier(feats[0].shape[1], n_classes)
    spans, history = None, []
    for k in range(1, iterations + 1):
        t0 = time.time()
        loss = fit_classifier(model, *windows(feats, labels, train_window), epochs, max_frames, seed + k,
                              min_steps=min_steps)
        prior = log_priors(labels, n_classes)
        spans, changed = [None] * len(ids), 0
        for idx, scores in frame_scores(model, feats, lengths, prior, max_frames):
            for i, s in zip(idx, scores):
                spans[i] = np.array(viterbi_spans(s, ids[i], min_frames, optional=optional[i]),
                                    dtype=np.int32).reshape(-1, 2)
                new = spans_to_labels(spans[i], ids[i])
                changed += int((labels[i] != new).sum())
                labels[i] = new
        changed /= max(sum(lengths), 1)
        row = {"iteration": k, "train_loss": round(loss, 4), "changed_frames_pct": round(100 * changed, 2),
               "seconds": round(time.time() - t0, 1)}
        if on_iteration is not None:
            row.update(on_iteration(k, spans) or {})
        history.append(row)
        log.info("realign %d: train loss %.3f, %.2f %% of frames changed label (%.1f s)%s", k, loss, 100 * changed,
                 row["seconds"], "".join(f", {key} {v}" for key, v in row.items() if key.startswith("within")))
    return spans, history
