"""Benchmark: feature extraction speed, training throughput and decoding real-time factor.

Corpus (one of):
  --data DIR          a recipe data folder holding manifests/ and fbank/ (features are
                      re-extracted for a sample of the train split, only to time them)
  --synthetic N       generate a synthetic TIMIT with N TRAIN speakers per dialect region,
                      prepare it and extract its features in --work (a temporary folder by
                      default). N=58 gives a TIMIT-sized training set: 464 speakers,
                      3712 SI/SX utterances (real TIMIT: 462 speakers, 3696 utterances);
                      dev is always 8 speakers / 64 utterances (real TIMIT: 50 / 400).
  --timit DIR         an existing TIMIT tree (real or synthetic): prepare + extract, no generation

Figures:
  features   seconds of audio / wall seconds (x real time) of `features.extract` on the train
             split (audio read + log-mel; with speed perturbation every copy counts), on CPU;
  train      steady-state optimizer steps (`Trainer.train_step`) of the very objects that
             `experiment.train` trains, made by the same `experiment.build_training` (data, model,
             bucketed loader, AdamW, SpecAugment, CTC, bf16 autocast on CUDA, gradient
             clipping, the trainer's non-finite check): --warmup steps
             are skipped, then --steps steps (or a whole epoch with --epoch) are timed. Input
             frames/s, utterances/s, s/step, epoch time estimated from frames/s (measured with
             --epoch), padding ratio of the bucketed batches over a whole epoch (padded frames /
             real frames - 1), peak memory (CUDA max allocated; on CPU the peak RSS during
             training, datasets included, or the process's max RSS where it cannot be reset);
  decode     greedy decoding (forward + ctc.greedy_decode) of the dev split in batches of
             data.valid_max_frames as scripts/decode.py does: RTF = compute seconds / audio
             seconds, on CPU with 1 thread, and on CUDA when there is one. The model is the
             briefly trained one, not a converged one.

Examples:
  python scripts/benchmark.py --config recipes/timit/conf/crdnn_quick.yaml --synthetic 58 --json bench.json
  python scripts/benchmark.py --config recipes/timit/conf/crdnn.yaml --data recipes/timit/data --epoch
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from phonerec.config import ConfigError, load_config
from phonerec.corpora.manifest import ManifestError
from phonerec.corpora.timit import CorpusError, standard_speaker_list
from phonerec.experiment.benchmark import (
    bench_decode,
    bench_train,
    build_corpus,
    dev_audio_seconds,
    format_report,
    loadavg,
    sample_features,
)
from phonerec.features.fbank import FeatureError
from phonerec.fileio import write_json
from phonerec.logs import setup_logging

log = logging.getLogger("benchmark")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="experiment YAML, e.g. recipes/timit/conf/crdnn.yaml")
    p.add_argument("--set", action="append", default=[], help="override, e.g. model.crdnn.lstm_hidden=32 (repeatable)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="data folder with manifests/ and fbank/ (as the recipe's data/)")
    src.add_argument("--synthetic", type=int, metavar="N",
                     help="generate a synthetic TIMIT with N TRAIN speakers per dialect region "
                          "(58: TIMIT-sized, 3712 train utterances)")
    src.add_argument("--timit", help="existing TIMIT tree to prepare and extract (no generation)")
    p.add_argument("--work", help="folder for the generated corpus, manifests and features (default: a temporary "
                                  "folder, removed at the end); a corpus generated there with the same N and seed is reused")
    p.add_argument("--synth-seed", type=int, default=0, help="seed of the synthetic corpus")
    p.add_argument("--dev-spk", default=standard_speaker_list("dev"), help="dev speaker list")
    p.add_argument("--test-spk", default=standard_speaker_list("core_test"), help="core test speaker list")
    p.add_argument("--feature-utts", type=int, default=300,
                   help="with --data: train utterances to time feature extraction on (0: all)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps before timing")
    p.add_argument("--epoch", action="store_true", help="time one whole epoch instead of --steps")
    p.add_argument("--decode-utts", type=int, default=0, help="dev utterances to decode (0: all)")
    p.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, help="torch threads for features and training (default: torch's, one per "
                                                 "core; on a CPU shared with other jobs 1 avoids oversubscription)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args(argv)
    a.warmup_epoch = 1  # --epoch times epoch index 1 (warm-up steps came from epoch 0's order)
    if a.steps < 1 or a.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    if a.synthetic is not None and not 1 <= a.synthetic <= 74:
        p.error("--synthetic must be in 1..74 speakers per dialect region")
    setup_logging()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device) if a.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    report: dict = {"config": a.config, "overrides": a.set}
    report["host"] = {
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "loadavg_start": loadavg(),
    }
    tmp = None
    try:
        cfg = load_config(a.config, a.set)
        if a.data:
            data = Path(a.data)
            report["corpus"] = {"source": "data", "data_dir": str(data)}
            report["features"] = sample_features(data, cfg, a.feature_utts)
        else:
            if a.work:
                work = Path(a.work)
                work.mkdir(parents=True, exist_ok=True)
            else:
                tmp = tempfile.mkdtemp(prefix="phonerec-bench-")
                work = Path(tmp)
            data, report["corpus"], report["features"] = build_corpus(a, cfg, work)
        report["host"]["loadavg_before_train"] = loadavg()
        report["train"], model, dev_set = bench_train(cfg, data, device, a)
        if a.decode_utts > 0:
            dev_set.drop([i < a.decode_utts for i in range(len(dev_set))])
        audio_s = dev_audio_seconds(data, dev_set, cfg.features.hop_ms)
        report["decode"] = {"cpu": None, "cuda": None}
        if device.type == "cuda":
            report["decode"]["cuda"] = bench_decode(model, dev_set, audio_s, cfg, device, None)
        cpu_model = copy.deepcopy(model).to("cpu") if device.type != "cpu" else model
        report["decode"]["cpu"] = bench_decode(cpu_model, dev_set, audio_s, cfg, torch.device("cpu"), 1)
    except (ConfigError, ManifestError, FeatureError, CorpusError, OSError) as e:
        log.error("%s", e)
        return 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    report["host"]["loadavg_end"] = loadavg()
    sys.stdout.write(format_report(report))
    if a.json:
        write_json(a.json, report)
        log.info("wrote %s", a.json)
    return 0

