"""Trivial baselines for the recipe README: what a recognizer that ignores the audio scores.

majority: every utterance is the train set's most frequent 39-phone, repeated as many times as
          the utterance's duration times the train phone rate predicts.
unigram:  that many phones drawn from the train unigram distribution (seeded).
"""
from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from phonerec.corpora.manifest import read_manifest
from phonerec.evaluation.per import score
from phonerec.phones import fold


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True, help="data folder with manifests/")
    p.add_argument("--splits", nargs="+", default=["dev", "test"])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    train = read_manifest(Path(a.data) / "manifests" / "train.json", check_files=False)
    counts = Counter(ph for r in train.values() for ph in fold(r["phn"].split(), 39))
    rate = sum(counts.values()) / sum(r["duration"] for r in train.values())  # phones per second
    majority = counts.most_common(1)[0][0]
    phones, weights = zip(*counts.items())
    rng = random.Random(a.seed)
    for split in a.splits:
        manifest = read_manifest(Path(a.data) / "manifests" / f"{split}.json", check_files=False)
        refs = {u: r["phn"].split() for u, r in manifest.items()}
        n = {u: max(1, round(r["duration"] * rate)) for u, r in manifest.items()}
        for name, hyps in (("majority", {u: [majority] * n[u] for u in refs}),
                           ("unigram", {u: rng.choices(phones, weights, k=n[u]) for u in refs})):
            print(f"{split} {name} baseline PER {score(refs, hyps)[0].per:.2f} %")
    return 0

