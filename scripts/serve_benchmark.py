#!/usr/bin/env python3
"""Speed and memory of `phonerec serve` as a user meets it: a server process on N cores, a recording
sent through the API, and (with chromium and chromedriver installed) through the page, from the
click to the drawn tiers; then one long recording, with the server's peak memory.

  python scripts/serve_benchmark.py --model EXP --concat /data/speechocean762/WAVE
  python scripts/serve_benchmark.py --model EXP --audio my.wav --seconds 10 --long-minutes 10 --cores 2

The recordings are built from --audio (repeated) or from the audio files under --concat (sorted,
joined with 0.3 s pauses) to --seconds and --long-minutes, 16 kHz mono, in --work. Every figure is
the median of --repeats runs after one warm-up run; the model, its size and decoding are printed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000


def build(source: list[Path], seconds: float, out: Path) -> Path:
    """`out`: a 16 kHz mono WAV of `seconds`, the sources joined with 0.3 s pauses (repeated if short)."""
    pieces, total, gap, k = [], 0, np.zeros(int(0.3 * RATE), np.float32), 0
    while total < seconds * RATE:
        x, sr = sf.read(str(source[k % len(source)]), dtype="float32", always_2d=True)
        k += 1
        if sr != RATE:
            if len(source) == 1:
                sys.exit(f"{source[0]}: {sr} Hz; give a {RATE} Hz recording")
            continue
        pieces += [x.mean(1), gap]
        total += len(x) + len(gap)
    sf.write(str(out), np.concatenate(pieces)[: int(seconds * RATE)], RATE, subtype="PCM_16")
    return out


def post(url: str, path: Path, fields: dict | None = None) -> tuple[float, bytes]:
    """(seconds, body) of a multipart POST of `path` as `audio`."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{path.name}"\r\n'
            "Content-Type: audio/wav\r\n\r\n").encode() + path.read_bytes() + b"\r\n"
    for k, v in (fields or {}).items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=3600) as r:
        data = r.read()
    return time.perf_counter() - start, data


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024


def page_to_tiers(url: str, audio: Path, repeats: int) -> list[float] | str:
    """Seconds from the click to the drawn tiers, as the page measures them, or why it cannot be measured."""
    chromium, driver_path = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return "selenium is not installed"
    if not (os.access(chromium, os.X_OK) and os.access(driver_path, os.X_OK)):
        return "no chromium / chromedriver (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    times = []
    try:
        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "model-name").text not in ("", "…"))
        driver.find_element(By.ID, "file").send_keys(str(audio))
        for _ in range(repeats + 1):
            driver.execute_script("document.getElementById('result').removeAttribute('data-ms');")
            driver.find_element(By.ID, "run").click()
            ms = WebDriverWait(driver, 600, 0.02).until(
                lambda d: d.find_element(By.ID, "result").get_attribute("data-ms") or d.find_element(By.ID, "error").text)
            if not ms.isdigit():
                return f"the page said: {ms}"
            times.append(int(ms) / 1000)
    finally:
        driver.quit()
    return times[1:]  # the first run warms up


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="experiment folder or model.pt")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", help="a 16 kHz recording, repeated to the lengths needed")
    source.add_argument("--concat", help="a folder of 16 kHz recordings, joined")
    p.add_argument("--seconds", type=float, default=10.0, help="the short recording (default 10 s)")
    p.add_argument("--long-minutes", type=float, default=10.0, help="the long recording (0: none; default 10)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cores", type=int, default=2, help="CPU cores the server may use (default 2)")
    p.add_argument("--text", help="also time the alignment of this text on the short recording")
    p.add_argument("--work", help="folder for the recordings (default: a temporary one)")
    a = p.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="serve-benchmark-"))
    work.mkdir(parents=True, exist_ok=True)
    files = [Path(a.audio)] if a.audio else sorted(f for f in Path(a.concat).rglob("*")
                                                   if f.suffix.lower() in (".wav", ".flac"))
    short = build(files, a.seconds, work / f"short_{a.seconds:g}s.wav")

    env = {**os.environ, "OMP_NUM_THREADS": str(a.cores)}
    cores = sorted(os.sched_getaffinity(0))[: a.cores]
    server = subprocess.Popen([sys.executable, "-m", "phonerec", "serve", "--model", a.model, "--port", "0",
                               "--max-seconds", str(max(1200, a.long_minutes * 60 + 1)), "--max-mb", "2000"],
                              stdout=subprocess.PIPE, text=True, env=env,
                              preexec_fn=lambda: os.sched_setaffinity(0, cores))
    try:
        line = server.stdout.readline()
        found = re.search(r"http://\S+/", line)
        if not found:
            sys.exit(f"the server did not start: {line}")
        url = found.group(0)
        with urllib.request.urlopen(url + "api/model") as r:
            info = json.loads(r.read())
        print(f"model: {info['name']} ({info['file']}); " + "; ".join(f"{k}: {v}" for k, v in info["details"]))
        print(f"server: {len(cores)} core(s) {cores}, OMP_NUM_THREADS={a.cores}; machine has {os.cpu_count()}")

        def timed(fields=None, path=short, endpoint="api/transcribe") -> list[float]:
            runs = [post(url + endpoint, path, fields)[0] for _ in range(a.repeats + 1)]
            return runs[1:]

        def show(what: str, runs: list[float]) -> None:
            print(f"{what}: median {statistics.median(runs):.3f} s, min {min(runs):.3f} s, max {max(runs):.3f} s "
                  f"({len(runs)} runs)")

        show(f"API  POST /api/transcribe, {a.seconds:g} s recording", timed())
        show(f"API  POST /api/audio (the waveform the page draws), {a.seconds:g} s", timed(endpoint="api/audio"))
        if a.text:
            show(f"API  POST /api/transcribe with text, {a.seconds:g} s", timed({"text": a.text}))
        page = page_to_tiers(url, short, a.repeats)
        if isinstance(page, str):
            print(f"page to tiers: not measured ({page})")
        else:
            show(f"page to tiers (click -> tiers drawn, headless chromium), {a.seconds:g} s", page)
        print(f"server peak RSS so far: {peak_rss_mib(server.pid):.0f} MiB")
        if a.long_minutes > 0:
            long = build(files, a.long_minutes * 60, work / f"long_{a.long_minutes:g}min.wav")
            seconds, body = post(url + "api/transcribe", long)
            n = len(json.loads(body)["segments"])
            print(f"API  POST /api/transcribe, {a.long_minutes:g} min recording ({long.stat().st_size / 2 ** 20:.1f} MiB): "
                  f"{seconds:.2f} s (RTF {seconds / (a.long_minutes * 60):.4f}), {n} phones; "
                  f"server peak RSS {peak_rss_mib(server.pid):.0f} MiB")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
