"""Viterbi training (experiment.viterbi_training): start labels with every boundary a few frames off move back to
where the features change."""
import weakref

import numpy as np
import torch

from phonerec.data import BucketBatchSampler
from phonerec.experiment.viterbi_training import LABEL_DTYPE, log_priors, spans_to_labels, viterbi_training


def toy_corpus(n_utts=60, n_phones=6, dim=8, seed=0):
    """Utterances of random phones (3-10 frames each); each phone's frames are its own mean vector plus
    noise. Returns feats, phone ids, true spans and start labels with each boundary moved by -3..+3 frames."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_phones + 1, dim)) * 2
    feats, ids, spans, labels = [], [], [], []
    for _ in range(n_utts):
        seq = [int(rng.integers(1, n_phones + 1))]
        while len(seq) < 8:
            p = int(rng.integers(1, n_phones + 1))
            if p != seq[-1]:
                seq.append(p)
        lens = rng.integers(3, 11, len(seq))
        ends = np.cumsum(lens)
        true = list(zip([0, *ends[:-1]], ends))
        x = np.concatenate([means[p] + rng.standard_normal((n, dim)) for p, n in zip(seq, lens)])
        moved = ends[:-1] + rng.integers(-3, 4, len(ends) - 1)
        moved = np.clip(moved, np.arange(1, len(seq)), ends[-1] - np.arange(len(seq) - 1, 0, -1))
        moved = np.maximum.accumulate(moved)  # still in order (equal ends are fixed below)
        for k in range(1, len(moved)):
            moved[k] = max(moved[k], moved[k - 1] + 1)
        start = list(zip([0, *moved], [*moved, ends[-1]]))
        feats.append(torch.tensor(x, dtype=torch.float32))
        ids.append(seq)
        spans.append([(int(s), int(e)) for s, e in true])
        labels.append(spans_to_labels([(int(s), int(e)) for s, e in start], seq))
    return feats, ids, spans, labels


def exact_share(spans_a, spans_b) -> float:
    pairs = [(a[0], b[0]) for sa, sb in zip(spans_a, spans_b) for a, b in zip(sa[1:], sb[1:])]
    return float(np.mean([x == y for x, y in pairs]))


def test_viterbi_training_moves_jittered_boundaries_back_to_the_feature_changes():
    feats, ids, true, labels = toy_corpus(n_utts=200)
    start = [[(int(s), int(s + n)) for s, n in zip(np.flatnonzero(np.diff(lab.numpy(), prepend=-1)),
                                                    np.diff(np.append(np.flatnonzero(np.diff(lab.numpy(), prepend=-1)), len(lab))))]
             for lab in labels]
    before = exact_share(start, true)
    seen = []
    spans, history = viterbi_training(feats, ids, labels, n_classes=7, iterations=3, epochs=5, min_steps=0,
                                      on_iteration=lambda k, sp: seen.append(k) or {"within_0": exact_share(sp, true)})
    after = exact_share(spans, true)
    print(f"exact boundaries: start labels {before:.3f}, after Viterbi training {after:.3f}; {history}")
    assert before < 0.25 and after > 0.85  # measured 0.14 -> 0.93
    assert seen == [1, 2, 3] and [h["iteration"] for h in history] == [1, 2, 3]
    assert history[0]["changed_frames_pct"] > history[-1]["changed_frames_pct"]  # it converges
    assert all(len(sp) == len(i) and sp[0][0] == 0 and sp[-1][1] == len(f) for sp, i, f in zip(spans, ids, feats))


class LiveCount:
    """Counts the tensors `track` is given (reads) and the most of them alive at once."""

    def __init__(self):
        self.live, self.reads, self.most_live = set(), 0, 0

    def track(self, x: torch.Tensor) -> torch.Tensor:
        self.reads += 1
        self.live.add(id(x))
        weakref.finalize(x, self.live.discard, id(x))
        self.most_live = max(self.most_live, len(self.live))
        return x


class LazyFeatures:
    """Features read when indexed (a fresh copy each time, as relabel's DatasetFeatures reads the cache)."""

    def __init__(self, feats):
        self.feats, self.count = feats, LiveCount()

    def __len__(self):
        return len(self.feats)

    def __getitem__(self, i):
        return self.count.track(self.feats[i].clone())


def test_viterbi_training_reads_features_a_batch_at_a_time_with_the_same_result():
    """What lets relabelling scale to a corpus that does not fit in memory: the features are read as
    each batch needs them (an epoch of training and a scoring pass per iteration), no more than one
    batch's are alive at once, and the spans are those of the same features held in a list."""
    feats, ids, _, labels = toy_corpus(n_utts=60)
    kwargs = {"n_classes": 7, "iterations": 2, "epochs": 1, "min_steps": 0, "max_frames": 300}
    lazy = LazyFeatures(feats)
    start = [y.clone() for y in labels]
    spans, history = viterbi_training(lazy, ids, labels, **kwargs)
    in_memory, memory_history = viterbi_training(feats, ids, labels, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(spans, in_memory))
    assert [(h["train_loss"], h["changed_frames_pct"]) for h in history] == \
        [(h["train_loss"], h["changed_frames_pct"]) for h in memory_history]
    # one read for the input size, then per iteration one of each utterance to train (an epoch) and one to score
    assert lazy.count.reads == 1 + 2 * (1 + 1) * len(feats)
    batch = max(len(b) for b in BucketBatchSampler([len(f) for f in feats], 300, shuffle=False).batches)
    assert 1 < lazy.count.most_live <= batch < len(feats) // 4, (lazy.count.most_live, batch)
    assert all(torch.equal(a, b) for a, b in zip(labels, start))  # the caller's labels are left as they were
    assert spans[0].dtype == np.int32 and spans[0].shape == (len(ids[0]), 2)


def test_priors_and_labels_from_spans():
    assert spans_to_labels([(0, 2), (2, 5)], [3, 1]).tolist() == [3, 3, 1, 1, 1]
    assert spans_to_labels(np.array([[0, 1], [1, 1], [1, 3]], dtype=np.int32), [2, 4, 1]).tolist() == [2, 1, 1]
    assert spans_to_labels([(0, 1)], [3]).dtype == LABEL_DTYPE  # 2 bytes a frame between iterations
    prior = log_priors([torch.tensor([1, 1, 1, 2])], 3).exp()
    assert torch.allclose(prior, torch.tensor([1 / 7, 4 / 7, 2 / 7]))
