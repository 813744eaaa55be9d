"""Stop closures for a corpus whose phone times are exact but have none (synthesized speech; ARPAbet-style
labels, where a stop's segment spans its closure and its burst): each stop or affricate's segment is split into
TIMIT's closure + release where a trained model's frame head puts the change, and every other boundary stays
as given. The model then learns from exact times in the same phone set as the rest of its corpus, whose
labels have closures (`phonerec relabel --keep-times`; the English recipe's exact-times round).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from phonerec.corpora.manifest import read_manifest
from phonerec.corpora.synthetic import CLOSURE_OF
from phonerec.data import split_speed
from phonerec.experiment.decode import batch_posteriors
from phonerec.experiment.train import load_split
from phonerec.inference.model import load_model
from phonerec.phones import fold

log = logging.getLogger(__name__)

CLOSURES = frozenset(CLOSURE_OF.values())


def split_stops(phones: list[str], ends: list[int], frame_lp: np.ndarray, class_of, hop: int) -> tuple[list[str], list[int]]:
    """(phones, end samples) with a closure before every stop and affricate: the cut is the frame k
    that maximises the closure's log posterior on the segment's frames before k plus the release's on
    those from k (frame t is centred on sample t * hop; the cut is put half a frame before k's centre,
    as decoding.timing.frame_head_segments does). A segment with fewer than two frames stays whole.
    `class_of(phone)`: the frame head's class of a TIMIT phone."""
    out_phones, out_ends, start = [], [], 0
    for p, end in zip(phones, ends):
        first, last = -(-start // hop), min(-(-end // hop), len(frame_lp))  # frames centred in [start, end)
        if p in CLOSURE_OF and last - first >= 2:
            closure, release = frame_lp[first:last, class_of(CLOSURE_OF[p])], frame_lp[first:last, class_of(p)]
            score = np.cumsum(closure)[:-1] + (release.sum() - np.cumsum(release)[:-1])  # cut after 1..n-1 frames
            k = first + 1 + int(np.argmax(score))
            cut = min(max(int(round((k - 0.5) * hop)), start + 1), end - 1)
            out_phones.append(CLOSURE_OF[p])
            out_ends.append(cut)
        out_phones.append(p)
        out_ends.append(end)
        start = end
    return out_phones, out_ends


def keep_times(exp_dir, data_dir, split: str = "train", device=None) -> tuple[dict, dict]:
    """({utt_id: row}, info) of `split`: rows whose phones have no closure at all get them (split_stops,
    with the frame head of the model in `exp_dir`); rows that have some, and every given time, are kept."""
    model, cfg, tokenizer, cmvn = load_model(exp_dir, device)
    if not getattr(model, "has_frame_head", False):
        raise ValueError(f"{exp_dir}: the model has no frame head (train.frame_weight 0): it cannot place closures")
    device = next(model.parameters()).device
    manifest = read_manifest(Path(data_dir) / "manifests" / f"{split}.json", check_files=False)
    missing = [u for u, r in manifest.items() if not r.get("ground_truth_phn_ends")]
    if missing:
        raise ValueError(f"{data_dir}: {len(missing)} {split} rows have no phone times (e.g. {missing[0]}): "
                         "--keep-times needs them all")
    for utt, row in manifest.items():
        ends = [int(e) for e in row["ground_truth_phn_ends"].split()]
        if len(ends) != len(row["phn"].split()) or any(b <= a for a, b in zip([0] + ends, ends)):
            raise ValueError(f"{data_dir}: {split} row {utt}: {len(ends)} phone ends for {len(row['phn'].split())} "
                             "phones, or ends that do not increase")
    todo = {u for u, r in manifest.items() if not CLOSURES & set(r["phn"].split())}
    dataset = load_split(data_dir, split, cfg, tokenizer, cmvn)
    dataset.drop([split_speed(u)[1] == 1.0 and u in todo for u in dataset.utt_ids])  # originals to fix only
    hop = int(round(cfg.features.sample_rate * cfg.features.hop_ms / 1000))

    def class_of(phone: str) -> int:
        return tokenizer.encode(fold([phone], cfg.data.train_phones))[0]

    rows, stops, changed, seen = dict(manifest), 0, 0, set()
    for batch in batch_posteriors(model, dataset, cfg.data.valid_max_frames, device, True):
        for utt, _, frame_lp in batch:
            row = manifest[utt]
            phones, ends = split_stops(row["phn"].split(), [int(e) for e in row["ground_truth_phn_ends"].split()],
                                       frame_lp, class_of, hop)
            seen.add(utt)
            stops += len(phones) - len(row["phn"].split())
            changed += len(phones) > len(row["phn"].split())
            rows[utt] = {**row, "phn": " ".join(phones), "ground_truth_phn_ends": " ".join(map(str, ends))}
    for utt in sorted(todo - seen):
        log.warning("%s: not in the feature cache: kept without closures", utt)
    info = {"aligned_by": str(Path(exp_dir).resolve()), "method": "closures_only", "split": split,
            "utterances": len(rows), "with_closures_put_in": changed, "closures_put_in": stops,
            "not_in_cache": sorted(todo - seen), "flat_start": [], "label_accuracy": []}
    log.info("%s: closures put into %d of %d utterances (%d stops), every given time kept", split, changed,
             len(rows), stops)
    return rows, info
