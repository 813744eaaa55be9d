#!/usr/bin/env python3
"""Peak memory and real-time factor of `phonerec transcribe --timestamps` and `phonerec align` on one
long recording (a lecture, an interview), each in a fresh process, as a user runs them.

  python scripts/long_audio_benchmark.py --model EXP --audio long.wav
  python scripts/long_audio_benchmark.py --model EXP --concat /data/speechocean762/WAVE --minutes 10

--concat builds the recording from the audio files found under a folder (sorted, 16 kHz mono,
each followed by 0.3 s of silence) until it is --minutes long, and writes it to --work.
Align places the phones transcribe found (the worst case: as many phones as the model hears).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def concat(folder: Path, minutes: float, out: Path, rate: int = 16000) -> Path:
    pieces, total, gap = [], 0, np.zeros(int(0.3 * rate), dtype=np.float32)
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flac")):
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
        if sr != rate:
            continue
        pieces += [x.mean(1), gap]
        total += len(x) + len(gap)
        if total >= minutes * 60 * rate:
            break
    if total < minutes * 60 * rate:
        sys.exit(f"{folder}: only {total / rate / 60:.1f} min of {rate} Hz audio found")
    sf.write(str(out), np.concatenate(pieces)[: int(minutes * 60 * rate)], rate, subtype="PCM_16")
    return out


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit status) of one command in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="experiment folder or model.pt")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="the long recording")
    src.add_argument("--concat", help="folder of recordings to concatenate")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--work", help="where the concatenated file and the phones go (default: a temporary folder)")
    a = p.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="long_audio_"))
    work.mkdir(parents=True, exist_ok=True)
    audio = Path(a.audio) if a.audio else concat(Path(a.concat), a.minutes, work / f"long_{a.minutes:g}min.wav")
    seconds = sf.info(str(audio)).duration
    phones = work / "decoded.phn"
    cli = [sys.executable, "-m", "phonerec"]
    runs = {"transcribe --timestamps": cli + ["transcribe", "--model", a.model, "--timestamps", "--format", "phn",
                                              "--out", str(work / "out"), str(audio)],
            "align (decoded phones)": cli + ["align", "--model", a.model, "--format", "phn", "--out",
                                             str(work / "aligned"), str(audio), "--phones", str(phones),
                                             "--adapt", "0"],  # the model's own alignment (no corpus refinement)
            "align, refined on itself": cli + ["align", "--model", a.model, "--format", "phn", "--out",
                                               str(work / "refined"), str(audio), "--phones", str(phones)]}
    print(f"{audio}: {seconds / 60:.1f} min, model {a.model}, {os.cpu_count()} CPU(s)")
    for name, cmd in runs.items():
        wall, rss, status = measure(cmd)
        if status:
            print(f"{name}: failed (exit {status})")
            return 1
        print(f"{name:26s} wall {wall:7.1f} s  RTF {wall / seconds:.3f}  peak RSS {rss:7.0f} MiB")
        if name.startswith("transcribe"):
            out = next((work / "out").glob("*.phn"))
            phones.write_text(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
