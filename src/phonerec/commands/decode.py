"""Stage decode: exp/<name>/model.pt + cached features -> exp/<name>/decode_<split>/hyp.txt + decode.json.

Greedy by default. Beam search with the phone bigram LM (estimated once from the train
manifest into exp/<name>/lm_bigram.json) via --method beam / --decode-config; --tune picks
the LM weight and insertion bonus by dev PER and decodes every split with them. When the dev set is
the one the model trained with (or with --store-tuned) they and the LM are stored in model.pt: from
then on they are the model's defaults (here, in transcribe and in Recognizer.load), until training
writes a new model.pt. Tuned on another corpus's dev set, model.pt is left byte for byte as it was.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phonerec.config import ConfigError
from phonerec.corpora.manifest import ManifestError
from phonerec.decoding.lm import LMError
from phonerec.experiment.decode import GRID_BONUSES, GRID_LM_WEIGHTS, decode_experiment
from phonerec.features.fbank import FeatureError
from phonerec.logs import setup_logging
from phonerec.training.checkpoint import CheckpointError

log = logging.getLogger("decode")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", required=True, help="experiment folder holding model.pt")
    p.add_argument("--data", required=True, help="data folder with manifests/ and fbank/")
    p.add_argument("--splits", nargs="+", default=["dev", "test"])
    p.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    p.add_argument("--decode-config", help="YAML with a decode: section or the decode keys "
                   "(default: the model's own config)")
    p.add_argument("--method", choices=["greedy", "beam"], help="overrides the config")
    p.add_argument("--beam", type=int, help="beam width")
    p.add_argument("--lm-weight", type=float, help="bigram LM weight (beam only; 0 disables)")
    p.add_argument("--insertion-bonus", type=float, help="score added per phone (beam only)")
    p.add_argument("--blank-penalty", type=float, help="subtracted from the blank's log posterior (greedy and beam)")
    p.add_argument("--tune", action="store_true", help="grid-search LM weight and insertion bonus on dev PER")
    p.add_argument("--tune-split", default="dev", help="split to tune on (never test)")
    p.add_argument("--store-tuned", action="store_true",
                   help="store the tuned settings in model.pt even when --data is not the model's own dev set")
    p.add_argument("--lm-weights", type=float, nargs="+", default=list(GRID_LM_WEIGHTS), help="tuning grid")
    p.add_argument("--insertion-bonuses", type=float, nargs="+", default=list(GRID_BONUSES), help="tuning grid")
    a = p.parse_args(argv)
    setup_logging(Path(a.exp) / "log" / "decode.log")
    overrides = {"method": a.method, "beam": a.beam, "lm_weight": a.lm_weight, "insertion_bonus": a.insertion_bonus,
                 "blank_penalty": a.blank_penalty}
    try:
        decode_experiment(a.exp, a.data, a.splits, decode_config=a.decode_config, overrides=overrides,
                          tune_on=a.tune_split if a.tune else None, store_tuned_settings=a.store_tuned,
                          lm_weights=a.lm_weights,
                          bonuses=a.insertion_bonuses, device=a.device)
    except (CheckpointError, ManifestError, FeatureError, ConfigError, LMError, ValueError) as e:
        log.error("%s", e)
        return 1
    return 0

