#!/usr/bin/env python3
"""docs/serve.png: the page of `phonerec serve` as headless chromium draws it, with the bundled model
aligning the words of a real recording (a public-domain LJSpeech clip), so the picture shows what a user
sees rather than a test model on synthetic speech.

  python scripts/serve_screenshot.py --audio /tmp/ljspeech_eval/TIMIT/TEST/DR1/FLJS0/LJ0010001.WAV

The server is started as a user starts it (`phonerec serve --port 0`; no --model: the bundled one). The
text is the TIMIT .TXT beside the audio (its sample span skipped), or --text; --recognise shows the
recognised phones instead. Needs chromium and chromedriver (apt-get install chromium chromium-driver)
and selenium. The PNG is reduced to a 256-colour palette when Pillow is installed (a spectrogram in
full colour is several hundred KB).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 300  # the bundled model on a busy 2-core CPU, first request included


def prompt_text(path: Path) -> str:
    """The sentence of a TIMIT .TXT (`0 154481 Printing, in the only sense ...`) or a plain text file."""
    words = path.read_text(errors="replace").split()
    return " ".join(words[2:] if len(words) > 2 and words[0].isdigit() and words[1].isdigit() else words)


def start_server(model: str | None) -> tuple[subprocess.Popen, str]:
    """(`phonerec serve` process on a free port, its address)."""
    command = [sys.executable, "-m", "phonerec", "serve", "--port", "0"] + (["--model", model] if model else [])
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = server.stdout.readline()
    found = re.search(r"http://\S+/", line)
    if not found:
        server.terminate()
        sys.exit(f"the server did not start: {line!r}")
    return server, found.group(0)


def browser(width: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.access(chromium, os.X_OK) and os.access(driver_path, os.X_OK)):
        sys.exit("no chromium / chromedriver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},1000", "--hide-scrollbars"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def screenshot(url: str, audio: Path, text: str, out: Path, width: int, zoom: int) -> str:
    """Upload `audio` (with `text` to align), wait for the tiers, save the page to `out`; returns the page's
    model name and decoding line, for the log."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser(width)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.2)
        wait.until(lambda d: d.find_element(By.ID, "model-name").text not in ("", "…"))
        driver.find_element(By.ID, "file").send_keys(str(audio))
        if text:
            driver.find_element(By.ID, "text").send_keys(text)
        driver.find_element(By.ID, "run").click()
        answer = wait.until(lambda d: d.find_element(By.ID, "result").get_attribute("data-ms")
                            or d.find_element(By.ID, "error").text)
        if not answer.isdigit():
            sys.exit(f"the page said: {answer}")
        for _ in range(zoom):
            driver.find_element(By.ID, "zoom-in").click()
        # the recording's start in view, the pointer off the button (no hover style), and two frames for the
        # canvases to redraw
        driver.execute_script("document.getElementById('viewport').scrollLeft = 0; document.activeElement.blur();")
        ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h1")).perform()
        driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")
        for _ in range(3):  # the whole page, model panel included (the window is taller than its viewport)
            missing = driver.execute_script("return document.documentElement.scrollHeight - window.innerHeight;")
            if missing <= 0:
                break
            driver.set_window_size(width, driver.get_window_size()["height"] + missing)
        driver.execute_script("window.scrollTo(0, 0);")
        driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")
        driver.save_screenshot(str(out))
        return driver.find_element(By.ID, "model-name").text
    finally:
        driver.quit()


def palette(path: Path) -> None:
    """Rewrite the PNG with a 256-colour palette (about a third of the size; the page has few colours
    besides the spectrogram's ramp), when Pillow is there."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--audio", type=Path, default=Path("/tmp/ljspeech_eval/TIMIT/TEST/DR1/FLJS0/LJ0010001.WAV"))
    p.add_argument("--text", help="the words to align (default: the .TXT beside --audio)")
    p.add_argument("--recognise", action="store_true", help="show recognised phones, no words")
    p.add_argument("--model", help="experiment folder or model.pt (default: the bundled model)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    p.add_argument("--width", type=int, default=1000, help="browser window width in pixels (default 1000)")
    p.add_argument("--zoom", type=int, default=2, help="times to press + once drawn, each doubling the scale "
                   "(default 2: the first seconds, phones readable; 0: the whole recording)")
    a = p.parse_args(argv)
    if not a.audio.is_file():
        sys.exit(f"{a.audio}: no such file")
    text = "" if a.recognise else a.text or prompt_text(a.audio.with_suffix(".TXT"))
    server, url = start_server(a.model)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            shot = Path(tmp) / "serve.png"
            name = screenshot(url, a.audio.resolve(), text, shot, a.width, a.zoom)
            palette(shot)
            a.out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, a.out)
    finally:
        server.terminate()
        server.wait(30)
    print(f"{a.out}: {a.out.stat().st_size / 1024:.0f} KB; model {name}; {a.audio}" + (f"; text {text!r}" if text else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
