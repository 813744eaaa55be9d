"""Synthetic TIMIT, part 3: the files. NIST SPHERE (or RIFF) audio and .PHN/.WRD/.TXT labels in the
LDC layout, written by worker processes; the bytes do not depend on their number."""
from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from phonerec.corpora.synthetic.text import SAMPLE_RATE, Speaker, plan_corpus
from phonerec.corpora.synthetic.voice import synthesize_utterance

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------

SPHERE_HEADER_SIZE = 1024


def write_sphere(path, samples, sample_rate: int = SAMPLE_RATE, utterance_id: str = "") -> None:
    """Write 16-bit mono PCM as an uncompressed NIST SPHERE file like the LDC TIMIT disc."""
    data = np.asarray(samples, dtype="<i2")
    fields = [
        ("database_id", "-s5", "TIMIT"),
        ("database_version", "-s3", "1.0"),
        ("utterance_id", f"-s{len(utterance_id)}", utterance_id),
        ("channel_count", "-i", 1),
        ("sample_count", "-i", len(data)),
        ("sample_max", "-i", int(data.max()) if len(data) else 0),
        ("sample_min", "-i", int(data.min()) if len(data) else 0),
        ("sample_rate", "-i", sample_rate),
        ("sample_n_bytes", "-i", 2),
        ("sample_byte_format", "-s2", "01"),  # little-endian
        ("sample_sig_bits", "-i", 16),
    ]
    lines = ["NIST_1A", "   1024", *(f"{k} {t} {v}" for k, t, v in fields), "end_head"]
    header = ("\n".join(lines) + "\n").encode("ascii")
    if len(header) > SPHERE_HEADER_SIZE:
        raise ValueError(f"SPHERE header too long ({len(header)} bytes)")
    with open(path, "wb") as fh:
        fh.write(header.ljust(SPHERE_HEADER_SIZE, b" "))
        fh.write(data.tobytes())


def read_sphere_header(path) -> dict[str, str | int]:
    """Fields of a NIST SPHERE header (ints for -i fields)."""
    with open(path, "rb") as fh:
        head = fh.read(SPHERE_HEADER_SIZE).decode("ascii")
    fields: dict[str, str | int] = {}
    for line in head.splitlines()[2:]:
        if line.strip() == "end_head":
            break
        key, kind, value = (line.split(" ", 2) + [""])[:3]
        fields[key] = int(value) if kind == "-i" else value
    return fields


def write_speaker(root, speaker: Speaker, *, seed: int = 0, lowercase: bool = False, audio_format: str = "sphere") -> int:
    """Write one speaker's ten utterances; returns the number of audio samples written."""
    if audio_format not in ("sphere", "riff"):
        raise ValueError(f"audio_format must be 'sphere' or 'riff', got {audio_format!r}")
    case = str.lower if lowercase else str.upper
    folder = Path(root) / case(speaker.split) / case(f"DR{speaker.dialect}") / case(speaker.name)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for utt in speaker.utterances:
        syn = synthesize_utterance(seed, speaker, utt)
        stem = folder / case(utt.uid)
        wav = stem.with_name(stem.name + case(".WAV"))
        if audio_format == "sphere":
            write_sphere(wav, syn.samples, SAMPLE_RATE, f"{speaker.name}_{utt.uid}".lower())
        else:
            import soundfile as sf

            sf.write(str(wav), syn.samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        n = len(syn.samples)
        stem.with_name(stem.name + case(".PHN")).write_text("".join(f"{a} {b} {p}\n" for a, b, p in syn.phones))
        stem.with_name(stem.name + case(".WRD")).write_text("".join(f"{a} {b} {w}\n" for a, b, w in syn.words))
        stem.with_name(stem.name + case(".TXT")).write_text(f"0 {n} {utt.text}\n")
        total += n
    return total


def _write_speaker_job(args) -> tuple[str, int]:
    root, speaker, seed, lowercase, audio_format = args
    return speaker.split, write_speaker(root, speaker, seed=seed, lowercase=lowercase, audio_format=audio_format)


def generate_corpus(
    root,
    *,
    seed: int = 0,
    train_speakers_per_dr: int = 6,
    lowercase: bool = False,
    audio_format: str = "sphere",
    workers: int | None = None,
) -> dict:
    """Write a synthetic TIMIT under `root` and return a summary.

    The summary has per-split speaker / utterance counts and seconds of audio:
    {"train": {"speakers", "utterances", "seconds"}, "test": {...}, "speakers",
    "utterances", "seconds", "elapsed"}. `workers` processes share the speakers
    (default: all CPUs); the files do not depend on it.
    """
    if audio_format not in ("sphere", "riff"):
        raise ValueError(f"audio_format must be 'sphere' or 'riff', got {audio_format!r}")
    t0 = time.perf_counter()
    speakers = plan_corpus(seed, train_speakers_per_dr)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(root, spk, seed, lowercase, audio_format) for spk in speakers]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_write_speaker_job, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        results = [_write_speaker_job(job) for job in jobs]
    summary: dict = {}
    for split in ("TRAIN", "TEST"):
        spk = [s for s in speakers if s.split == split]
        samples = sum(n for sp, n in results if sp == split)
        summary[split.lower()] = {
            "speakers": len(spk),
            "utterances": sum(len(s.utterances) for s in spk),
            "seconds": samples / SAMPLE_RATE,
        }
    summary["speakers"] = len(speakers)
    summary["utterances"] = summary["train"]["utterances"] + summary["test"]["utterances"]
    summary["seconds"] = summary["train"]["seconds"] + summary["test"]["seconds"]
    summary["elapsed"] = time.perf_counter() - t0
    log.info(
        "synthetic TIMIT in %s: %d speakers, %d utterances, %.2f h of audio (%.1f s) in %.1f s",
        root, summary["speakers"], summary["utterances"], summary["seconds"] / 3600, summary["seconds"], summary["elapsed"],
    )
    return summary
