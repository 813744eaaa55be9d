"""Stage relabel: a trained model + a corpus without phone times -> a data folder whose train
manifest has them (the manifest's phones forced-aligned by the model), so that the next training
round can train the frame head. Dev and test are copied unchanged; the features are linked.

  relabel.py --exp exp/ctc_round0 --data data --out data_aligned1
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phonerec.config import ConfigError
from phonerec.corpora.manifest import ManifestError
from phonerec.experiment.relabel import relabel
from phonerec.features.fbank import FeatureError
from phonerec.logs import setup_logging
from phonerec.training.checkpoint import CheckpointError

log = logging.getLogger("relabel")
REFINE_ITERATIONS = 8


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", required=True, help="experiment folder holding the aligning model.pt")
    p.add_argument("--data", required=True, help="data folder with manifests/ and fbank/")
    p.add_argument("--out", required=True, help="new data folder: manifests/ with aligned train times, fbank/ link")
    p.add_argument("--refine-iterations", type=int, default=REFINE_ITERATIONS,
                   help="rounds of Viterbi training with a narrow-window frame classifier after the model's "
                        f"alignment (default {REFINE_ITERATIONS}; 0: the model's alignment as it is)")
    p.add_argument("--reference", help="a manifest with the train utterances' true phone times: measure the labels "
                                       "of each step against it (never used for the labels)")
    p.add_argument("--keep-times", action="store_true",
                   help="the train rows have exact phone times (synthesized speech): keep them all, only put TIMIT's "
                        "stop closures into rows that have none, where the model's frame head hears them "
                        "(experiment.closures); no realignment")
    p.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    a = p.parse_args(argv)
    setup_logging(Path(a.exp) / "log" / "relabel.log")
    try:
        info = relabel(a.exp, a.data, a.out, a.device, a.refine_iterations, a.reference, a.keep_times)
    except (CheckpointError, ManifestError, FeatureError, ConfigError, OSError, ValueError) as e:
        log.error("%s", e)
        return 1
    if a.keep_times:
        print(f"train: {info['utterances']} utterances, their times kept; {info['closures_put_in']} closures put into "
              f"{info['with_closures_put_in']} of them -> {Path(a.out) / 'manifests' / 'train.json'}")
        return 0
    print(f"train: {info['utterances']} utterances aligned ({info['method']}, {len(info['flat_start'])} flat starts) "
          f"-> {Path(a.out) / 'manifests' / 'train.json'}")
    for row in info["label_accuracy"]:
        print(f"labels after {row['step']}: {row['within_20ms_pct']} % of the reference boundaries within 20 ms "
              f"(mean {row['mean_abs_ms']} ms)")
    return 0
