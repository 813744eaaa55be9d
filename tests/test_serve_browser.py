"""`phonerec serve` end to end in a real headless browser: Debian's chromium driven by its chromedriver
through Selenium (a test run cannot download a browser; .ci/run installs both with apt-get). The page
is opened, a recording uploaded, and the phone (and word) segments it draws, each element carrying
data-phone / data-word, data-start and data-end, must be the API's answer for the same file; a bad
file is a sentence on the page, which goes on working; a fake microphone records and is transcribed.
The screenshot is saved in the test's folder (docs/serve.png is scripts/serve_screenshot.py's: the bundled
model on a real recording).

Without chromium, chromedriver or selenium the tests are skipped, and the skip says which is missing.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="phonerec serve needs the 'serve' extra (pip install '.[serve]')")

from phonerec.serve.engine import Limits  # noqa: E402
from phonerec.textgrid import parse_textgrid  # noqa: E402
from test_serve import PROMPT, ServerThread, recordings, transcribe_api  # noqa: E402,F401  (recordings: a fixture)

CHROMIUM = ("chromium", "/usr/bin/chromium")
CHROMEDRIVER = ("chromedriver", "/usr/bin/chromedriver")
WAIT_S = 60
CARD = {"name": "test model (small CNN)", "trained_on": "the synthetic TIMIT corpus the tests generate (25 epochs)",
        "figures": {"note": "trained in seconds for this test; its phones are not a real model's"}}


def find(names: tuple[str, str]) -> str | None:
    found = shutil.which(names[0])
    return found or (names[1] if os.access(names[1], os.X_OK) else None)


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = find(CHROMIUM), find(CHROMEDRIVER)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -c requirements.lock -e '.[test,serve]')")
    if not chromium or not chromedriver:
        pytest.skip(f"no {'chromium' if not chromium else 'chromedriver'} on this machine: apt-get install chromium "
                    "chromium-driver (.ci/run does) to run the browser test of phonerec serve")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1250",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(trained_model, tmp_path_factory):
    """The server over a copy of the small model the session trains, with a card beside it."""
    exp = tmp_path_factory.mktemp("browser") / "exp"
    shutil.copytree(trained_model[1], exp)
    (exp / "card.json").write_text(json.dumps(CARD))
    s = ServerThread(exp, Limits())  # the command's limits, as the page shows them
    yield s
    s.stop()


def wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(condition, message=f"waiting for {what}")


def run_page(driver, audio: Path | None, text: str = ""):
    """Choose `audio` (None: keep the current one), set the text, press the button, wait for the tiers or
    an error -> the error's text ('' when the tiers came)."""
    from selenium.webdriver.common.by import By

    driver.execute_script("document.getElementById('result').removeAttribute('data-ms');")
    if audio is not None:
        driver.find_element(By.ID, "file").send_keys(str(audio))
    box = driver.find_element(By.ID, "text")
    box.clear()
    if text:
        box.send_keys(text)
    driver.find_element(By.ID, "run").click()
    return wait_for_answer(driver)


def wait_for_answer(driver) -> str:
    from selenium.webdriver.common.by import By

    def answered(d):  # a truthy (error text,) once answered
        error = d.find_element(By.ID, "error")
        if error.is_displayed() and error.text:
            return (error.text,)
        return ("",) if d.find_element(By.ID, "result").get_attribute("data-ms") else None
    return wait(driver, answered, "the tiers or an error")[0]


def drawn(driver, tier: str, key: str) -> list[tuple]:
    """(label, start, end) of every segment element the page drew in a tier."""
    return [tuple(x) for x in driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' [data-' + arguments[1] + ']')]"
        ".map(e => [e.dataset[arguments[1]], Number(e.dataset.start), Number(e.dataset.end)]);", f"#{tier}", key)]


def severe_console_messages(driver) -> list[str]:
    return [m["message"] for m in driver.get_log("browser") if m["level"] == "SEVERE"]


def test_the_page_draws_the_apis_segments_and_words(browser, server, recordings, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.ID, "model-name").text == CARD["name"], "the model's card")
    shown = browser.find_element(By.ID, "model-info").text
    assert CARD["trained_on"] in shown and server.recognizer.description.decoding in shown  # the resolver's line

    # a bad file: one sentence on the page, no traceback
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    error = run_page(browser, bad)
    assert "notes.wav" in error and "not a readable audio file" in error and "Traceback" not in error
    assert not browser.find_element(By.ID, "result").is_displayed()
    browser.get_log("browser")  # drop the console's note of that 422: what follows must have no error at all

    # recognition of the corpus's own file (NIST SPHERE, which only the server can decode)
    audio = recordings["sa1_sphere"]
    assert run_page(browser, audio) == ""
    api = transcribe_api(server, audio)
    assert drawn(browser, "phones", "phone") == [(s["phone"], s["start"], s["end"]) for s in api["segments"]]
    assert not browser.find_element(By.ID, "words").is_displayed()

    # alignment of the words: both tiers are the API's
    assert run_page(browser, None, PROMPT) == ""
    api = transcribe_api(server, audio, text=PROMPT)
    assert drawn(browser, "phones", "phone") == [(s["phone"], s["start"], s["end"]) for s in api["segments"]]
    assert drawn(browser, "words", "word") == [(w["word"], w["start"], w["end"]) for w in api["words"]]
    confidences = browser.execute_script(
        "return [...document.querySelectorAll('#phones [data-phone]')].map(e => Number(e.dataset.confidence));")
    assert confidences == [s["confidence"] for s in api["segments"]]

    # zoom in and out: the time axis widens, the segments keep their times, a click plays one
    width = browser.execute_script("return document.getElementById('viewport').clientWidth;")
    browser.find_element(By.ID, "zoom-in").click()
    browser.find_element(By.ID, "zoom-in").click()
    assert browser.execute_script("return document.getElementById('content').offsetWidth;") == pytest.approx(4 * width, abs=2)
    browser.execute_script("document.getElementById('viewport').scrollLeft = 300;")
    segment = browser.find_elements(By.CSS_SELECTOR, "#words [data-word]")[1]
    browser.execute_script("arguments[0].click();", segment)
    assert "playing" in segment.get_attribute("class")
    browser.find_element(By.ID, "stop").click()
    browser.find_element(By.ID, "zoom-fit").click()
    assert drawn(browser, "phones", "phone") == [(s["phone"], s["start"], s["end"]) for s in api["segments"]]

    # a download is what is shown, rendered by the server
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.find_element(By.CSS_SELECTOR, ".download[data-format=textgrid]").click()
    wait(browser, lambda d: (downloads / "SA1.TextGrid").is_file(), "the TextGrid download")
    tiers = parse_textgrid((downloads / "SA1.TextGrid").read_text())
    assert [p for _, _, p in tiers["phones"]] == [s["phone"] for s in api["segments"]]
    assert [t for s, e, _ in tiers["phones"] for t in (s, e)] == pytest.approx(
        [t for s in api["segments"] for t in (s["start"], s["end"])])
    assert [w for _, _, w in tiers["words"]] == PROMPT.split()
    assert severe_console_messages(browser) == []

    shot = tmp_path / "serve.png"
    browser.execute_script("window.scrollTo(0, 0);")
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}; page to tiers {browser.find_element(By.ID, 'result').get_attribute('data-ms')} ms")


def test_a_recording_from_the_microphone_is_transcribed(browser, server):
    """Chromium's fake microphone (a beep) is recorded, sent as WAV and transcribed on Stop."""
    import time

    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.ID, "model-name").text == CARD["name"], "the model's card")
    browser.find_element(By.ID, "record").click()
    wait(browser, lambda d: d.find_element(By.ID, "source").text.startswith("recording…"), "the recording to start")
    time.sleep(1.5)
    browser.find_element(By.ID, "record").click()
    error = wait_for_answer(browser)
    assert error == "" or "silence" in error, error  # a fake device that gives silence is said so
    if not error:
        assert browser.find_element(By.ID, "source").text.startswith("recording (")
        assert drawn(browser, "phones", "phone")
    assert severe_console_messages(browser) == []
