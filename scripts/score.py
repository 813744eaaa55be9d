#!/usr/bin/env python3
"""Stage score: decode_<split>/hyp.txt + manifest references -> per.json, per_utt.txt (39 phones)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from phonerec.logs import setup_logging
from phonerec.manifest import ManifestError, read_manifest
from phonerec.scoring import read_hyp_file, score, write_score

log = logging.getLogger("score")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--exp", required=True, help="experiment folder holding decode_<split>/hyp.txt")
    p.add_argument("--data", required=True, help="data folder with manifests/ (the references)")
    p.add_argument("--splits", nargs="+", default=["dev", "test"])
    a = p.parse_args(argv)
    setup_logging(Path(a.exp) / "log" / "score.log")
    for split in a.splits:
        decode_dir = Path(a.exp) / f"decode_{split}"
        try:
            manifest = read_manifest(Path(a.data) / "manifests" / f"{split}.json", check_files=False)
            hyps = read_hyp_file(decode_dir / "hyp.txt")
            refs = {u: r["phn"].split() for u, r in manifest.items()}
            result, rows = score(refs, hyps)
        except (ManifestError, FileNotFoundError, ValueError) as e:
            log.error("%s: %s", split, e)
            return 1
        write_score(decode_dir, result, rows)
        print(f"{split} PER {result.per:.2f} %  (sub {result.sub}, del {result.dels}, ins {result.ins}, "
              f"N {result.n_ref}, {result.n_utts} utterances)  -> {decode_dir / 'per.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
