#!/usr/bin/env python3
"""Stage decode: exp/<name>/model.pt + cached features -> exp/<name>/decode_<split>/hyp.txt."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from phonerec.checkpoint import CheckpointError
from phonerec.experiment import decode_loader, load_model, load_split
from phonerec.data import make_loader
from phonerec.features import FeatureError
from phonerec.logs import setup_logging
from phonerec.manifest import ManifestError
from phonerec.scoring import write_hyp_file

log = logging.getLogger("decode")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--exp", required=True, help="experiment folder holding model.pt")
    p.add_argument("--data", required=True, help="data folder with manifests/ and fbank/")
    p.add_argument("--splits", nargs="+", default=["dev", "test"])
    p.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    a = p.parse_args(argv)
    setup_logging(Path(a.exp) / "log" / "decode.log")
    try:
        model, cfg, tokenizer, cmvn = load_model(a.exp, a.device)
        device = next(model.parameters()).device
        for split in a.splits:
            dataset = load_split(a.data, split, cfg, tokenizer, cmvn)
            loader = make_loader(dataset, cfg.data.valid_max_frames, shuffle=False)
            hyps, _ = decode_loader(model, loader, tokenizer, device)
            out = Path(a.exp) / f"decode_{split}" / "hyp.txt"
            write_hyp_file(out, hyps)
            log.info("%s: %d utterances decoded (greedy) -> %s", split, len(hyps), out)
    except (CheckpointError, ManifestError, FeatureError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
