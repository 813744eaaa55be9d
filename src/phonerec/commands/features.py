"""Stage features: data/manifests/<split>.json -> data/fbank/<split>.{pt,f16,json} + cmvn.json (train only).

<split>.f16 holds the frames, <split>.pt the index training opens, <split>.json what identifies
the cache (features.store). --cmvn FILE: that file's statistics instead of the train frames' (a round that
continues training a model must normalise as the model did: experiment.train.start_from checks it)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from phonerec.config import ConfigError, load_config
from phonerec.corpora.manifest import ManifestError, read_manifest
from phonerec.features.fbank import FeatureError, compute_cmvn, extract, load_cmvn, save_cmvn
from phonerec.features.store import frames_path
from phonerec.logs import setup_logging

log = logging.getLogger("features")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True, help="data folder holding manifests/; features go to <data>/fbank")
    p.add_argument("--config", help="experiment YAML (its features section is used)")
    p.add_argument("--set", action="append", default=[], help="override, e.g. features.n_mels=40")
    p.add_argument("--splits", nargs="+", default=["train", "dev", "test"])
    p.add_argument("--cmvn", help="cmvn.json to copy (e.g. the start model's data's) instead of computing it from train")
    a = p.parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(a.config, a.set).features
        given_cmvn = load_cmvn(a.cmvn) if a.cmvn else None
        if a.cmvn and "train" not in a.splits:
            raise ConfigError(f"--cmvn {a.cmvn}: the statistics are written with the train split's features; "
                              f"--splits {' '.join(a.splits)} has no train")
        manifests = {}
        errors = []
        for split in a.splits:  # validate every manifest first and report all bad entries
            try:
                manifests[split] = read_manifest(Path(a.data) / "manifests" / f"{split}.json")
            except ManifestError as e:
                errors.append(str(e))
        if errors:
            raise ManifestError("\n".join(errors))
    except (ConfigError, ManifestError, FeatureError) as e:
        log.error("%s", e)
        return 1
    out = Path(a.data) / "fbank"
    for split, manifest in manifests.items():
        speeds = cfg.speed_perturb if split == "train" else [1.0]
        cache = extract(manifest, cfg, speeds, progress=lambda it: tqdm(it, desc=split, mininterval=2, file=sys.stderr),
                        out=out / f"{split}.pt")
        log.info("%s: %d utterances (speeds %s), %d frames -> %s (frames %s)", split, len(cache.utt_ids), speeds,
                 cache.n_frames, out / f"{split}.pt", frames_path(out / f"{split}.pt").name)
        if split == "train":
            save_cmvn(given_cmvn or compute_cmvn(cache), out / "cmvn.json")
            log.info("global CMVN from %s -> %s", a.cmvn or "the train frames", out / "cmvn.json")
    return 0

