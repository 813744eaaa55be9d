"""What `phonerec benchmark` measures: feature extraction speed, training throughput of the very
objects experiment.train trains, decoding real-time factor, peak memory (the command's docstring
says how each figure is taken)."""
from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from phonerec.config import ExperimentConfig
from phonerec.corpora.manifest import ManifestError, read_manifest, write_manifest
from phonerec.corpora.synthetic import generate_corpus
from phonerec.corpora.timit import CorpusError, prepare, read_speaker_list
from phonerec.data import PhoneDataset, make_loader
from phonerec.decoding.ctc import greedy_decode
from phonerec.experiment.train import build_training
from phonerec.features.fbank import compute_cmvn, extract, save_cmvn
from phonerec.fileio import write_json
from phonerec.models import count_parameters
from phonerec.training.trainer import move_to

log = logging.getLogger(__name__)

MIB = 2**20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        return []


def _max_rss_mib() -> float:
    """Peak resident memory of this process (since the last `_reset_peak_rss`, where that worked)."""
    try:  # Linux: VmHWM, which `_reset_peak_rss` can reset
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / MIB if sys.platform == "darwin" else rss / 1024


def _reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _round(x, n=4):
    return None if x is None else round(float(x), n)


# ---- corpus ---------------------------------------------------------------------------------
def build_corpus(a, cfg: ExperimentConfig, work: Path) -> tuple[Path, dict, dict]:
    """Generate (--synthetic) or take (--timit) a TIMIT tree, prepare it and extract train/dev
    features into work/data. Returns (data dir, corpus figures, feature-extraction figures)."""
    corpus: dict = {}
    if a.synthetic is not None:
        root, marker = work / "TIMIT", work / "synthetic.json"
        wanted = {"train_speakers_per_dr": a.synthetic, "seed": a.synth_seed}
        corpus.update(source="synthetic", **wanted)
        if marker.is_file() and json.loads(marker.read_text()) == wanted and (root / "TRAIN").is_dir():
            log.info("reusing the synthetic corpus in %s", root)
            corpus["generate_seconds"] = None
        else:
            shutil.rmtree(root, ignore_errors=True)
            marker.unlink(missing_ok=True)
            log.info("generating a synthetic TIMIT (%d TRAIN speakers per dialect region) in %s", a.synthetic, root)
            t0 = time.perf_counter()
            summary = generate_corpus(root, seed=a.synth_seed, train_speakers_per_dr=a.synthetic)
            corpus["generate_seconds"] = _round(time.perf_counter() - t0, 2)
            corpus["generated_audio_hours"] = _round(summary["seconds"] / 3600, 3)
            write_json(marker, wanted)
    else:
        root = Path(a.timit)
        corpus.update(source="timit", timit=str(root))
    t0 = time.perf_counter()
    manifests, _ = prepare(root, read_speaker_list(a.dev_spk), read_speaker_list(a.test_spk))
    corpus["prepare_seconds"] = _round(time.perf_counter() - t0, 2)
    data = work / "data"
    corpus["data_dir"] = str(data)
    for split in ("train", "dev"):
        if not manifests[split]:
            raise CorpusError(f"{root}: the {split} split is empty")
        write_manifest(data / "manifests" / f"{split}.json", manifests[split])
    feats = time_features(manifests["train"], cfg, cfg.features.speed_perturb, save_to=data / "fbank")
    extract(manifests["dev"], cfg.features, [1.0], out=data / "fbank" / "dev.pt")
    return data, corpus, feats


def time_features(manifest: dict, cfg: ExperimentConfig, speeds, save_to: Path | None = None) -> dict:
    """Time `features.extract` on `manifest`; with `save_to`, also write train.pt and cmvn.json there."""
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as scratch:  # without save_to the cache is written only to be timed
        t0 = time.perf_counter()
        cache = extract(manifest, cfg.features, list(speeds), out=(save_to or Path(scratch)) / "train.pt")
        wall = time.perf_counter() - t0
        if save_to is not None:
            save_cmvn(compute_cmvn(cache), save_to / "cmvn.json")
    source_s = sum(float(r["duration"]) for r in manifest.values())
    audio_s = sum(float(r["duration"]) / s for r in manifest.values() for s in speeds)  # an s=0.9 copy is longer
    return {
        "device": "cpu", "threads": threads, "utterances": len(manifest), "speeds": list(speeds),
        "source_audio_seconds": _round(source_s, 2), "audio_seconds": _round(audio_s, 2),
        "frames": cache.n_frames, "wall_seconds": _round(wall, 6), "x_realtime": _round(audio_s / wall, 2),
    }


def sample_features(data: Path, cfg: ExperimentConfig, n: int) -> dict:
    """Feature speed on the first `n` train utterances of an existing data folder (audio must exist)."""
    manifest = read_manifest(data / "manifests" / "train.json", check_files=False)
    rows = dict(list(manifest.items())[:n] if n > 0 else manifest.items())
    missing = [r["wav"] for r in rows.values() if not Path(r["wav"]).is_file()]
    if missing:
        log.warning("feature extraction not timed: %d audio file(s) of the manifest are missing (e.g. %s)",
                    len(missing), missing[0])
        return {"skipped": f"{len(missing)} audio files missing, e.g. {missing[0]}"}
    return time_features(rows, cfg, cfg.features.speed_perturb)


# ---- training -------------------------------------------------------------------------------
def padding_ratio(loader, lengths: list[int]) -> tuple[float, int, int]:
    """(padded frames / real frames - 1, padded frames, real frames) over one epoch's batches."""
    real = padded = 0
    for batch in loader.batch_sampler.batches:
        longest = max(lengths[i] for i in batch)
        padded += longest * len(batch)
        real += sum(lengths[i] for i in batch)
    return padded / max(real, 1) - 1, padded, real


def bench_train(cfg: ExperimentConfig, data: Path, device: torch.device, a) -> tuple[dict, torch.nn.Module, PhoneDataset]:
    """Build everything with `experiment.build_training` (what training runs), then time
    steady-state optimizer steps."""
    training = build_training(cfg, data, tempfile.gettempdir(), device)  # writes nothing: fit() is not called
    model, trainer, loader, train_set = training.core, training.trainer, training.train_loader, training.train_set
    device = training.dist.device
    total_steps = cfg.train.epochs * len(loader)
    use_amp = trainer.use_amp

    skipped = torch.zeros((), dtype=torch.long, device=device)

    def step(batch) -> None:  # exactly the trainer's optimizer step, skip count kept on the device
        skipped.add_(trainer.train_step(move_to(batch, device), total_steps)[1])

    def stream():  # batches across epochs, each epoch reshuffled as in training
        epoch = 0
        while True:
            loader.batch_sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    ratio, padded_epoch, real_epoch = padding_ratio(loader, train_set.lengths)
    rss_before = _max_rss_mib()  # peak so far: corpus preparation, feature extraction, datasets
    rss_reset = _reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    batches = stream()
    for _ in range(a.warmup):
        step(next(batches))
    sync(device)

    frames = padded = utts = n_steps = 0
    if a.epoch:
        loader.batch_sampler.set_epoch(a.warmup_epoch)
        it = iter(loader)
    else:
        it = (next(batches) for _ in range(a.steps))
    t0 = time.perf_counter()
    for batch in it:
        frames += int(batch.feat_lens.sum())  # CPU tensors: no sync
        padded += batch.feats.shape[0] * batch.feats.shape[1]
        utts += len(batch)
        n_steps += 1
        step(batch)
    sync(device)
    seconds = time.perf_counter() - t0

    if device.type == "cuda":
        peak, peak_kind = torch.cuda.max_memory_allocated(device) / MIB, "cuda_max_allocated"
    else:
        peak = _max_rss_mib()
        peak_kind = "peak RSS during training" if rss_reset else "max RSS of the whole process"
    fps = frames / seconds
    hop_s = cfg.features.hop_ms / 1000
    out = {
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(), "amp_bf16": use_amp, "model": cfg.model.name,
        "model_settings": cfg.model.describe(),
        "parameters": count_parameters(model), "subsampling": model.subsampling,
        "max_frames": cfg.data.max_frames, "num_workers": cfg.data.num_workers,
        "train_utterances": len(train_set), "dropped_unalignable": len(training.dropped),
        "warmup_steps": a.warmup, "steps": n_steps, "skipped_steps": int(skipped), "full_epoch": bool(a.epoch),
        "frames": frames, "padded_frames": padded, "utterances": utts, "seconds": _round(seconds, 6),
        "frames_per_s": _round(fps, 2), "audio_seconds_per_s": _round(fps * hop_s, 3),
        "utterances_per_s": _round(utts / seconds, 3), "seconds_per_step": _round(seconds / max(n_steps, 1), 4),
        "epoch_steps": len(loader), "epoch_frames": real_epoch, "epoch_padded_frames": padded_epoch,
        "estimated_epoch_seconds": _round(real_epoch / fps, 2), "measured_epoch_seconds": _round(seconds, 2) if a.epoch else None,
        "padding_ratio": _round(ratio, 5), "peak_memory_mib": _round(peak, 1), "peak_memory_kind": peak_kind,
        "peak_rss_before_training_mib": _round(rss_before, 1),
    }
    return out, model, training.dev_set


# ---- decoding -------------------------------------------------------------------------------
def bench_decode(model: torch.nn.Module, dev_set: PhoneDataset, audio_s: float, cfg: ExperimentConfig,
                 device: torch.device, threads: int | None) -> dict:
    """Greedy-decode `dev_set` in data.valid_max_frames batches: compute seconds / audio seconds."""
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        model = model.to(device).eval()
        use_amp = cfg.train.amp and device.type == "cuda"  # as the trainer's evaluation
        batches = list(make_loader(dev_set, cfg.data.valid_max_frames, shuffle=False))  # collate not timed

        def run(batch) -> int:
            batch = batch.to(device)
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                log_probs, out_lens = model(batch.feats, batch.feat_lens)
            return sum(len(h) for h in greedy_decode(log_probs, out_lens))  # .cpu() inside: synced

        run(batches[0])  # warm-up (allocator, cuDNN plans, thread pools)
        sync(device)
        t0 = time.perf_counter()
        n_phones = sum(run(b) for b in batches)
        sync(device)
        seconds = time.perf_counter() - t0
        return {
            "device": str(device), "threads": torch.get_num_threads(), "amp_bf16": use_amp,
            "utterances": len(dev_set), "batches": len(batches), "batch_max_frames": cfg.data.valid_max_frames,
            "audio_seconds": _round(audio_s, 2), "compute_seconds": _round(seconds, 6),
            "rtf": _round(seconds / audio_s, 6), "x_realtime": _round(audio_s / seconds, 1), "hyp_phones": n_phones,
        }
    finally:
        torch.set_num_threads(old_threads)


def dev_audio_seconds(data: Path, dev_set: PhoneDataset, hop_ms: float) -> float:
    """Seconds of audio of the dev utterances: manifest durations, else frames x hop."""
    try:
        manifest = read_manifest(data / "manifests" / "dev.json", check_files=False)
        return sum(float(manifest[u]["duration"]) for u in dev_set.utt_ids)
    except (ManifestError, KeyError):
        return sum(dev_set.lengths) * hop_ms / 1000


# ---- report ---------------------------------------------------------------------------------
def format_report(r: dict) -> str:
    lines = []

    def section(title):
        lines.append("")
        lines.append(title)
        lines.append("-" * len(title))

    def row(label, value, unit=""):
        if value is None:
            value = "-"
        elif isinstance(value, float):
            value = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        lines.append(f"  {label:<34} {value}{(' ' + unit) if unit else ''}")

    h, c = r["host"], r["corpus"]
    lines.append(f"phonerec benchmark: {r['config'] or '(defaults)'} {' '.join('--set ' + s for s in r['overrides'])}".rstrip())
    section("host")
    row("torch", h["torch"])
    row("CPU cores / torch threads", f"{h['cpu_count']} / {h['torch_threads']}")
    row("GPU", h["gpu"] or "none")
    row("load average at start", " ".join(map(str, h["loadavg_start"])), "(1, 5, 15 min)")
    row("load average before training", " ".join(map(str, h["loadavg_before_train"])))
    row("load average at end", " ".join(map(str, h["loadavg_end"])))
    section("corpus")
    for k, v in c.items():
        row(k.replace("_", " "), v)
    f = r["features"]
    section("feature extraction (train split, CPU)")
    if "skipped" in f:
        row("skipped", f["skipped"])
    else:
        row("utterances / speeds", f"{f['utterances']:,} / {f['speeds']}")
        row("audio", f["audio_seconds"] / 3600, "h")
        row("wall", f["wall_seconds"], "s")
        row("speed", f["x_realtime"], "x real time")
        row("threads", f["threads"])
    t = r["train"]
    section(f"training ({t['device']}{', bf16 autocast' if t['amp_bf16'] else ''}, {t['threads']} "
            f"thread{'s' if t['threads'] != 1 else ''})")
    row("model / parameters", f"{t['model']} / {t['parameters'] / 1e6:.2f} M")
    row("subsampling", t["subsampling"], "x")
    row("train utterances (dropped)", f"{t['train_utterances']:,} ({t['dropped_unalignable']})")
    row("batch budget max_frames", t["max_frames"])
    row("timed steps (after warm-up)", f"{t['steps']} (+{t['warmup_steps']})" + (" = 1 epoch" if t["full_epoch"] else ""))
    row("input frames / s", t["frames_per_s"])
    row("audio seconds / s", t["audio_seconds_per_s"])
    row("utterances / s", t["utterances_per_s"])
    row("seconds / step", t["seconds_per_step"])
    row("steps / epoch", t["epoch_steps"])
    row("epoch time, estimated", t["estimated_epoch_seconds"], "s")
    row("epoch time, measured", t["measured_epoch_seconds"], "s")
    row("padding ratio (epoch)", t["padding_ratio"], "padded / real - 1")
    row("peak memory", t["peak_memory_mib"], f"MiB ({t['peak_memory_kind']})")
    if t["device"] == "cpu":
        row("peak RSS before training", t["peak_rss_before_training_mib"], "MiB (corpus, features, datasets)")
    row("skipped non-finite steps", t["skipped_steps"])
    for name, d in r["decode"].items():
        if d is None:
            continue
        section(f"greedy decoding, dev ({d['device']}, {d['threads']} thread{'s' if d['threads'] != 1 else ''}"
                f"{', bf16 autocast' if d['amp_bf16'] else ''})")
        row("utterances / batches", f"{d['utterances']:,} / {d['batches']}")
        row("audio", d["audio_seconds"], "s")
        row("compute", d["compute_seconds"], "s")
        row("RTF", d["rtf"], "compute s / audio s")
        row("speed", d["x_realtime"], "x real time")
    return "\n".join(lines) + "\n"


# ---- main -----------------------------------------------------------------------------------
