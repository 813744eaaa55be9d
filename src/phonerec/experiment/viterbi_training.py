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
# Optimizer steps per iteration at the least (a small corpus trains more epochs): a classifier that has
# barely learned scores every phone near its prior, and Viterbi through such flat scores squeezes the
# phones anywhere (on the tests' 64-utterance corpus, 2 epochs of 4 steps took the labels from 75 % to
# 25 % within 20 ms of the truth; 100 steps took them to 92 %)
MIN_STEPS = 100


def spans_to_labels(spans: list[tuple[int, int]], ids: list[int]) -> torch.Tensor:
    """(T,) int64 label of each frame from the [start, end) frame span of each phone id."""
    return torch.cat([torch.full((e - s,), i, dtype=torch.long) for (s, e), i in zip(spans, ids)])


def log_priors(labels: list[torch.Tensor], n_classes: int) -> torch.Tensor:
    """(C,) log relative frequency of each class over all frames (add-one smoothed)."""
    counts = torch.bincount(torch.cat(labels), minlength=n_classes).double() + 1
    return (counts / counts.sum()).log().float()


def fit_classifier(model: torch.nn.Module, feats: list[torch.Tensor], labels: list[torch.Tensor], epochs: int,
                   max_frames: int, seed: int, lr: float = 1e-3, min_steps: int = 0) -> float:
    """Train `model` on every frame of `feats` (each (T, F)) with `labels` (each (T,)) for `epochs` epochs, more
    when that is under `min_steps` optimizer steps; the last epoch's mean loss."""
    sampler = BucketBatchSampler([len(f) for f in feats], max_frames, shuffle=True, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    loss_sum = n = 0.0
    for epoch in range(max(epochs, -(-min_steps // max(len(sampler), 1)))):
        sampler.set_epoch(epoch)
        loss_sum = n = 0.0
        for idx in sampler:
            x = pad_sequence([feats[i] for i in idx], batch_first=True)  # (N, T, F)
            y = pad_sequence([labels[i] for i in idx], batch_first=True, padding_value=IGNORE)  # (N, T)
            loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum, n = loss_sum + float(loss.detach()), n + 1
    return loss_sum / max(n, 1)


@torch.no_grad()
def frame_scores(model: torch.nn.Module, feats: list[torch.Tensor], prior: torch.Tensor,
                 max_frames: int) -> list[np.ndarray]:
    """Per utterance, (T, C) log posteriors minus log priors."""
    model.eval()
    out: list = [None] * len(feats)
    for idx in BucketBatchSampler([len(f) for f in feats], max_frames, shuffle=False):
        scores = model(pad_sequence([feats[i] for i in idx], batch_first=True)).log_softmax(-1) - prior  # (N, T, C)
        for k, i in enumerate(idx):
            out[i] = scores[k, : len(feats[i])].numpy()
    return out


def viterbi_training(feats: list[torch.Tensor], ids: list[list[int]], labels: list[torch.Tensor], n_classes: int, *,
                     iterations: int = 8, epochs: int = 1, min_steps: int = MIN_STEPS, max_frames: int = 4000,
                     seed: int = 0, min_frames: int = MIN_FRAMES, optional: list | None = None,
                     on_iteration=None) -> tuple[list, list[dict]]:
    """Refine frame labels by `iterations` rounds of train-then-realign.

    feats: per utterance (T, F) normalised features; ids: its phone ids in order (every one must get
    >= 1 frame: T >= len(ids)); labels: its (T,) start labels; optional: per utterance the positions in
    its ids that Viterbi may skip (pauses between words, viterbi_spans), their spans then empty. The
    classifier keeps its weights from one iteration to the next (each trains `epochs` more epochs, or `min_steps` steps if that is more). `on_iteration(k, spans)` is called after each
    realignment (e.g. to measure the labels against reference times).
    Returns (per utterance the [start, end) frame span of each phone after the last iteration,
    per iteration {iteration, train_loss, changed_frames_pct, seconds})."""
    torch.manual_seed(seed)
    optional = optional or [()] * len(ids)
    model = LocalFrameClassifier(feats[0].shape[1], n_classes)
    spans, history = None, []
    for k in range(1, iterations + 1):
        t0 = time.time()
        loss = fit_classifier(model, feats, labels, epochs, max_frames, seed + k, min_steps=min_steps)
        scores = frame_scores(model, feats, log_priors(labels, n_classes), max_frames)
        spans = [viterbi_spans(s, i, min_frames, optional=o) for s, i, o in zip(scores, ids, optional)]
        new = [spans_to_labels(sp, i) for sp, i in zip(spans, ids)]
        changed = sum(int((a != b).sum()) for a, b in zip(labels, new)) / max(sum(len(x) for x in new), 1)
        labels = new
        row = {"iteration": k, "train_loss": round(loss, 4), "changed_frames_pct": round(100 * changed, 2),
               "seconds": round(time.time() - t0, 1)}
        if on_iteration is not None:
            row.update(on_iteration(k, spans) or {})
        history.append(row)
        log.info("realign %d: train loss %.3f, %.2f %% of frames changed label (%.1f s)%s", k, loss, 100 * changed,
                 row["seconds"], "".join(f", {key} {v}" for key, v in row.items() if key.startswith("within")))
    return spans, history
