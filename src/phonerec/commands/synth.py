"""Stage 0: write the synthetic TIMIT corpus (LDC layout, SPHERE audio) into --out.

The corpus is built in a temporary sibling folder and renamed into place only when
complete, so an interrupted run never leaves a half corpus that looks finished.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from pathlib import Path

from phonerec.corpora.synthetic import generate_corpus
from phonerec.logs import setup_logging

log = logging.getLogger("make_synthetic_timit")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, help="corpus root to create (will hold TRAIN and TEST)")
    p.add_argument("--seed", type=int, default=0, help="same seed, byte-identical corpus")
    p.add_argument("--train-speakers-per-dr", type=int, default=6, help="TRAIN speakers per dialect region (TEST is fixed: 32)")
    p.add_argument("--lowercase", action="store_true", help="lower-case every path (train/dr1/fcjf0/sa1.wav)")
    p.add_argument("--riff", action="store_true", help="RIFF/WAVE audio instead of NIST SPHERE (still named .WAV)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists and is not empty")
    a = p.parse_args(argv)
    setup_logging()
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        log.error("%s exists and is not a folder", out)
        return 1
    if out.is_dir() and any(out.iterdir()) and not a.force:
        log.error("%s exists and is not empty: use --force to replace it", out)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.perf_counter()
    try:
        summary = generate_corpus(
            tmp, seed=a.seed, train_speakers_per_dr=a.train_speakers_per_dr, lowercase=a.lowercase,
            audio_format="riff" if a.riff else "sphere", workers=a.workers,
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():  # old corpus (or empty folder) goes only once the new one is whole
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
    for split in ("train", "test"):
        s = summary[split]
        log.info("%s: %d speakers, %d utterances, %.1f s of audio", split.upper(), s["speakers"], s["utterances"], s["seconds"])
    log.info("wrote %s: %d utterances, %.2f h of audio in %.1f s", out, summary["utterances"],
             summary["seconds"] / 3600, time.perf_counter() - t0)
    return 0

