#!/usr/bin/env python3
"""A check of aligned labels that needs no hand labels: where each manifest's leading and trailing
silence (h#) ends and starts, against where the recording's energy first and last rises 15 dB above
its 10th-percentile frame (25 ms frames, 10 ms apart). Crude on noisy recordings (breaths, lip
smacks count as sound), but it shows on real speech whether labels sit on the acoustics; on the
synthetic corpus it is checked against the true times (recipes/speechocean762/README.md).

  python scripts/silence_edges.py --n 300 data/manifests/train.json data/aligned1/manifests/train.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import soundfile as sf

SILENCE = ("h#", "pau")


def energy_edges(wav: str) -> tuple[float, float]:
    """(first, last) time in seconds where the frame energy is 15 dB above the 10th percentile."""
    x, sr = sf.read(wav, dtype="float32")
    if x.ndim > 1:
        x = x.mean(1)
    hop, win = sr // 100, int(0.025 * sr)
    n = max(1, (len(x) - win) // hop + 1)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n] if len(x) >= win else x[None]
    db = 10 * np.log10((frames ** 2).mean(1) + 1e-10)
    loud = np.flatnonzero(db > np.percentile(db, 10) + 15)
    if not len(loud):
        loud = np.array([0, n - 1])
    return (loud[0] * hop + win / 2) / sr, (loud[-1] * hop + win / 2) / sr


def label_edges(row: dict, sample_rate: int = 16000) -> tuple[float, float]:
    """(end of the leading silence, start of the trailing silence) in seconds of a row with times."""
    phones, ends = row["phn"].split(), [int(v) for v in row["ground_truth_phn_ends"].split()]
    first = ends[0] / sample_rate if phones[0] in SILENCE else 0.0
    last = ends[-2] / sample_rate if phones[-1] in SILENCE and len(ends) > 1 else ends[-1] / sample_rate
    return first, last


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifests", nargs="+", help="manifests with ground_truth_phn_ends (same utterances)")
    p.add_argument("--n", type=int, default=300, help="first N utterances by id")
    a = p.parse_args(argv)
    sets = [json.load(open(m)) for m in a.manifests]
    keys = sorted(sets[0])[: a.n]
    edges = {k: energy_edges(sets[0][k]["wav"]) for k in keys}
    for name, rows in zip(a.manifests, sets):
        onset = np.array([label_edges(rows[k])[0] - edges[k][0] for k in keys])
        offset = np.array([label_edges(rows[k])[1] - edges[k][1] for k in keys])
        err = np.abs(np.concatenate([onset, offset]))
        print(f"{name}: {len(keys)} utterances, label minus energy edge: onset median {1000 * np.median(onset):+.0f} ms, "
              f"offset median {1000 * np.median(offset):+.0f} ms; |error| median {1000 * np.median(err):.0f} ms, "
              f"within 50 ms {100 * np.mean(err <= 0.05):.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
