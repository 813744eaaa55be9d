#!/usr/bin/env python3
"""Peak memory of feature extraction, of training and of relabelling against the size of the corpus:
with the feature cache on disk (phonerec.features.store) none may grow with the hours of speech.

  nice -n 10 python scripts/feature_memory_benchmark.py --hours 10 40

For each size it builds a data folder in --work, then measures, each in a fresh process (peak RSS:
the process's VmHWM at its end):
  extract  the real `features.extract` (Fbank, CacheWriter, cmvn) over a manifest of LibriSpeech-like
           utterances (2-20 s, 12 phones/s with phone times); only the audio reader is replaced by a
           generator of seeded noise, so no hours of audio need synthesising or storing;
  train    `experiment.build_training` on that folder (datasets, bucketed loader, a tiny LSTM with the
           frame head), --steps optimizer steps, then one pass over every batch of an epoch (reading
           and normalising every frame of the split, no model), as the trainer's loader does; then the
           model as it is (one empty epoch: dev PER, checkpoint, export) becomes the experiment folder
           exp_<hours>h/model.pt, after the peak is taken;
  relabel  the real `experiment.relabel.relabel` with that model (frame-head Viterbi of every train
           utterance, then --relabel-iterations rounds of Viterbi training) into relabel_<hours>h/.
It prints each figure, the ratio of the largest corpus to the smallest, and what the single-file
cache held in memory for the same frames (float16 cache + its float32 normalised copy + int64 frame
labels: 488 bytes per frame of 80 bins), for comparison.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE_RATE, PHONES_PER_S, MIB = 16000, 12, 1 << 20
SETTINGS = ["model.name=lstm", "model.lstm.lstm_hidden=32", "model.lstm.lstm_layers=1", "data.max_frames=6000",
            "train.frame_weight=0.5", "train.amp=false", "train.warmup_steps=5", "train.epochs=1"]


def manifest(hours: float, prefix: str, seed: int) -> dict:
    """Rows of utterances of 2-20 s adding up to `hours`, with random phones and their times."""
    from phonerec.phones import PHONE_SETS

    rng, rows, total = random.Random(seed), {}, 0.0
    phones = [p for p in PHONE_SETS[61] if p not in ("h#", "q")]
    while total < hours * 3600:
        n = rng.randint(2 * SAMPLE_RATE, 20 * SAMPLE_RATE)
        k = max(3, round(n / SAMPLE_RATE * PHONES_PER_S))
        ends = sorted(rng.sample(range(1, n), k - 1)) + [n]
        utt = f"{prefix}{len(rows):06d}"
        rows[utt] = {"wav": f"noise:{seed}:{len(rows)}:{n}", "duration": n / SAMPLE_RATE, "spk_id": utt[:-3],
                     "phn": " ".join(["h#"] + rng.choices(phones, k=k - 2) + ["h#"]),
                     "ground_truth_phn_ends": " ".join(map(str, ends))}
        total += n / SAMPLE_RATE
    return rows


def noise(wav: str, sample_rate: int):
    """The audio of a `noise:seed:index:samples` row: seeded noise with a slowly varying level."""
    import torch

    _, seed, index, n = wav.split(":")
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index))
    level = torch.rand(int(n) // 1600 + 1, generator=g).repeat_interleave(1600)[: int(n)]  # (n,) 0.1 s steps
    return 0.1 * level * torch.randn(int(n), generator=g)


def child_extract(data: Path) -> dict:
    """Stage features on data/manifests (the real extract, noise for audio): time and frames."""
    from phonerec.config import FeatureConfig
    from phonerec.corpora.manifest import read_manifest
    from phonerec.features import fbank

    fbank.load_audio = noise  # the one stand-in: no audio files
    cfg, out = FeatureConfig(), data / "fbank"
    t0, frames = time.perf_counter(), 0
    for split in ("train", "dev"):
        cache = fbank.extract(read_manifest(data / "manifests" / f"{split}.json", check_files=False), cfg,
                              out=out / f"{split}.pt")
        frames += cache.n_frames
        if split == "train":
            fbank.save_cmvn(fbank.compute_cmvn(cache), out / "cmvn.json")
            train_frames = cache.n_frames
    return {"seconds": round(time.perf_counter() - t0, 1), "train_frames": train_frames, "frames": frames}


def child_train(data: Path, steps: int, exp: Path) -> dict:
    """build_training, `steps` optimizer steps, then every batch of one epoch read: peak RSS after each;
    then the model exported to `exp` (the peak is taken before)."""
    import torch

    from phonerec.config import load_config
    from phonerec.experiment.train import build_training, export_model

    torch.set_num_threads(1)
    cfg = load_config(None, SETTINGS)
    run = build_training(cfg, data, exp, device="cpu")  # writes nothing
    built = _peak_mib()
    t0, total = time.perf_counter(), steps * 10
    batches = iter(run.train_loader)
    for _ in range(steps):
        run.trainer.train_step(next(batches), total)
    trained, t_steps = _peak_mib(), time.perf_counter() - t0
    t0, frames = time.perf_counter(), 0
    for batch in run.train_loader:
        frames += int(batch.feat_lens.sum())
    epoch, peak = time.perf_counter() - t0, _peak_mib()
    run.trainer.fit([])  # train.epochs=1 with no batches: dev figures and a checkpoint of the weights as they are
    export_model(run.trainer, exp, run.extra)
    return {"utterances": len(run.train_set), "frames_read": frames, "peak_after_build_mib": built,
            "peak_after_steps_mib": trained, "peak_after_epoch_mib": peak, "steps_seconds": round(t_steps, 1),
            "epoch_read_seconds": round(epoch, 1), "peak_mib": peak}


def child_relabel(data: Path, exp: Path, out: Path, iterations: int) -> dict:
    """The relabel stage (experiment.relabel) of `data`'s train split by the model in `exp`, into `out`."""
    import torch

    from phonerec.experiment.relabel import relabel

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    info = relabel(exp, data, out, "cpu", iterations)
    return {"utterances": info["utterances"], "flat_starts": len(info["flat_start"]), "method": info["method"],
            "seconds": round(time.perf_counter() - t0, 1)}


def _peak_mib() -> float:
    """Peak RSS of this process so far, MiB: VmHWM (Linux), which starts afresh at exec. (A child's
    ru_maxrss from wait4 would not do: Linux carries the parent's RSS at fork over into it.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def measure(args: list[str]) -> tuple[dict, float]:
    """(what a fresh process of this script printed, its peak RSS in MiB at its end)."""
    out = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)}: failed (exit {out.returncode})")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result, result.pop("peak_mib")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, nargs="+", default=[10, 40], help="train sizes, hours of speech")
    p.add_argument("--dev-hours", type=float, default=0.2)
    p.add_argument("--steps", type=int, default=30, help="optimizer steps of the tiny model per size")
    p.add_argument("--relabel-iterations", type=int, default=1, help="rounds of Viterbi training in relabel")
    p.add_argument("--work", help="folder for the data, experiment and relabel folders, kept there (e.g. to run "
                                  "a child again by hand; default: a temporary folder, removed)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:  # one measured process: print its result as the last line
        kind, data, rest = a.child[0], Path(a.child[1]), a.child[2:]
        if kind == "extract":
            result = child_extract(data)
        elif kind == "train":
            result = child_train(data, int(rest[0]), Path(rest[1]))
        else:
            result = child_relabel(data, Path(rest[0]), Path(rest[1]), int(rest[2]))
        print(json.dumps({"peak_mib": _peak_mib(), **result}))
        return 0
    from phonerec.corpora.manifest import write_manifest

    with contextlib.nullcontext(a.work) if a.work else tempfile.TemporaryDirectory() as tmp:
        rows = []
        for hours in a.hours:
            data = Path(tmp) / f"data_{hours:g}h"
            write_manifest(data / "manifests" / "train.json", manifest(hours, "spk", seed=1))
            write_manifest(data / "manifests" / "dev.json", manifest(a.dev_hours, "dev", seed=2))
            ext, ext_peak = measure(["--child", "extract", str(data)])
            exp, out = Path(tmp) / f"exp_{hours:g}h", Path(tmp) / f"relabel_{hours:g}h"
            train, train_peak = measure(["--child", "train", str(data), str(a.steps), str(exp)])
            rel, rel_peak = measure(["--child", "relabel", str(data), str(exp), str(out), str(a.relabel_iterations)])
            size = sum(f.stat().st_size for f in (data / "fbank").iterdir()) / MIB
            row = {"hours": hours, **ext, "cache_mib": round(size, 1), "extract_peak_mib": round(ext_peak, 1),
                   **train, "train_peak_mib": round(train_peak, 1), "relabel": rel,
                   "relabel_peak_mib": round(rel_peak, 1),
                   "single_file_cache_mib": round(ext["train_frames"] * (80 * (2 + 4) + 8) / MIB, 1)}
            rows.append(row)
            print(f"{hours:g} h: {train['utterances']} utterances, {ext['train_frames']} frames, cache {size:.0f} MiB; "
                  f"extraction {ext['seconds']} s, peak RSS {ext_peak:.0f} MiB; training ({a.steps} steps, then "
                  f"{train['frames_read']} frames read in {train['epoch_read_seconds']} s) "
                  f"peak RSS {train_peak:.0f} MiB "
                  f"(after building the datasets {train['peak_after_build_mib']:.0f}, after the steps "
                  f"{train['peak_after_steps_mib']:.0f}); the single-file cache held at least "
                  f"{row['single_file_cache_mib']:.0f} MiB in memory for these frames; relabel ({rel['method']}, "
                  f"{a.relabel_iterations} Viterbi training rounds, {rel['flat_starts']} flat starts) "
                  f"{rel['seconds']} s, peak RSS {rel_peak:.0f} MiB", flush=True)
        first, last = rows[0], rows[-1]
        print(f"ratio {last['hours']:g} h / {first['hours']:g} h: "
              f"corpus x{last['train_frames'] / first['train_frames']:.2f}, "
              f"training peak RSS x{last['train_peak_mib'] / first['train_peak_mib']:.3f}, "
              f"extraction peak RSS x{last['extract_peak_mib'] / first['extract_peak_mib']:.3f}, "
              f"relabel peak RSS x{last['relabel_peak_mib'] / first['relabel_peak_mib']:.3f}")
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
