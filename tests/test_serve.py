"""`phonerec serve`: its HTTP API in-process (a real uvicorn server on a free port, in a thread), on a
tiny untrained model (segments still come out): recognition and alignment give what Recognizer and
the commands give; every bad input is a sentence; the limits; concurrent requests; nothing of the
request's choosing is read or written; the command starts, prints its address and stops on Ctrl-C."""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette", reason="phonerec serve needs the 'serve' extra (pip install '.[serve]')")
pytest.importorskip("uvicorn", reason="phonerec serve needs the 'serve' extra (pip install '.[serve]')")

from conftest import export_tiny_model  # noqa: E402

from phonerec import Recognizer  # noqa: E402
from phonerec.commands import align as align_command  # noqa: E402
from phonerec.commands import serve as serve_command  # noqa: E402
from phonerec.commands import transcribe as transcribe_command  # noqa: E402
from phonerec.serve.app import create_app, static_files  # noqa: E402
from phonerec.serve.engine import Engine, Limits, resolve_lexicon  # noqa: E402
from phonerec.serve.model_info import bundled_model_path, describe_model, recorded_training  # noqa: E402
from phonerec.textgrid import parse_textgrid  # noqa: E402

PROMPT = "she had your dark suit in greasy wash water all year"
LIMITS = Limits(max_bytes=2 * 2 ** 20, max_seconds=8.0, max_text_chars=400)


class ServerThread:
    """`phonerec serve`'s app on 127.0.0.1:<free port>, served by uvicorn in a thread of this process."""

    def __init__(self, model, limits: Limits = LIMITS, **decode):
        import uvicorn

        self.recognizer = Recognizer.load(model, "cpu", **decode)
        self.engine = Engine(self.recognizer, limits, *resolve_lexicon(None))
        info = describe_model(self.recognizer)
        self.sock = serve_command.listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.engine, info), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.engine.close()
        self.sock.close()


def multipart(fields: dict) -> tuple[bytes, str]:
    """(body, content type) of a multipart form: a value (filename, bytes) is a file, a str a field."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data = value
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n")
        else:
            head, data = f'Content-Disposition: form-data; name="{name}"\r\n\r\n', value.encode()
        parts.append(f"--{boundary}\r\n{head}".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(url: str, body: bytes | None = None, content_type: str | None = None, headers: dict | None = None):
    """(status, headers, body bytes) of a GET (no body) or POST."""
    req = urllib.request.Request(url, data=body, headers={**({"Content-Type": content_type} if content_type else {}),
                                                         **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def post_audio(url: str, path_or_bytes, filename: str = "a.wav", **fields):
    data = Path(path_or_bytes).read_bytes() if isinstance(path_or_bytes, (str, Path)) else path_or_bytes
    body, ctype = multipart({"audio": (filename, data), **fields})
    return request(url, body, ctype)


def post_refused_early(server, data: bytes):
    """(status, headers, body) of an upload the server may answer (413) and close before it has all been
    sent: a client still sending then gets a broken pipe, but the answer is there to read."""
    body, ctype = multipart({"audio": ("big.wav", data)})
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=60)
    try:
        conn.putrequest("POST", "/api/transcribe")
        conn.putheader("Content-Type", ctype)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end of the body: read the answer
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    finally:
        conn.close()


def transcribe_api(server, path, **fields) -> dict:
    status, _, body = post_audio(f"{server.url}/api/transcribe", path, Path(path).name, **fields)
    assert status == 200, body
    return json.loads(body)


def assert_refused(answer, status: int, *words: str) -> str:
    """The answer is `status` with one sentence naming `words`, never a traceback."""
    got, headers, body = answer
    assert got == status, body
    assert headers.get("content-type", "").startswith("application/json")
    message = json.loads(body)["error"]
    assert "\n" not in message and "Traceback" not in message and 'File "' not in message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


@pytest.fixture(scope="module")
def tiny_exp(tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("serve") / "tiny"
    export_tiny_model(exp)
    return exp


@pytest.fixture(scope="module")
def server(tiny_exp):
    s = ServerThread(tiny_exp)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def recordings(timit_tree, tmp_path_factory) -> dict[str, Path]:
    """Real-length recordings out of the TIMIT tree (so no TIMITDIC.TXT is found beside them): SA1 as the
    corpus stores it (NIST SPHERE) and as RIFF WAV, and two more utterances."""
    out = tmp_path_factory.mktemp("recordings")
    sa1 = sorted(timit_tree.glob("TEST/*/*/SA1.WAV"))[0]
    files = {"sa1_sphere": out / "SA1.WAV"}
    shutil.copyfile(sa1, files["sa1_sphere"])
    data, sr = sf.read(sa1, dtype="int16")
    files["sa1"] = out / "sa1.wav"
    sf.write(files["sa1"], data, sr, subtype="PCM_16")
    for k, wav in enumerate(sorted(timit_tree.glob("TEST/*/*/SX*.WAV"))[:2]):
        files[f"sx{k}"] = out / f"sx{k}.wav"
        sf.write(files[f"sx{k}"], sf.read(wav, dtype="int16")[0], sr, subtype="PCM_16")
    return files


def wav_bytes(samples: np.ndarray, sr: int = 16000) -> bytes:
    import io

    buffer = io.BytesIO()
    sf.write(buffer, samples, sr, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def segments(d: dict) -> list:
    return [(s["phone"], s["start"], s["end"], s["confidence"]) for s in d["segments"]]


# --- what the API answers is what Recognizer and the commands give -----------------------------------

def test_recognition_gives_the_segments_of_recognizer_and_the_command(server, tiny_exp, recordings, capsys):
    path = recordings["sa1"]
    api = transcribe_api(server, path)
    assert api["file"] == "sa1.wav" and api["warnings"] == [] and len(api["segments"]) >= 3
    python = Recognizer.load(tiny_exp, "cpu").transcribe(str(path)).to_dict()
    assert segments(api) == segments(python) and api["phones"] == python["phones"]
    assert api["duration"] == python["duration"]
    assert transcribe_command.main(["--model", str(tiny_exp), "--timestamps", "--format", "json", str(path)]) == 0
    command = json.loads(capsys.readouterr().out)
    assert segments(api) == segments(command)
    # the corpus's own NIST SPHERE file is read too, to the same answer
    assert segments(transcribe_api(server, recordings["sa1_sphere"])) == segments(api)


def test_alignment_of_a_text_gives_word_and_phone_tiers_as_align_does(server, tiny_exp, recordings, tmp_path, capsys):
    path = recordings["sa1"]
    api = transcribe_api(server, path, text=PROMPT)
    assert [w["word"] for w in api["words"]] == PROMPT.split()
    python = Recognizer.load(tiny_exp, "cpu").align(str(path), text=PROMPT).to_dict()
    assert segments(api) == segments(python) and api["words"] == python["words"]
    (tmp_path / "sa1.txt").write_text(PROMPT + "\n")
    assert align_command.main(["--model", str(tiny_exp), str(path), "--text", str(tmp_path / "sa1.txt"),
                               "--format", "json"]) == 0
    command = json.loads(capsys.readouterr().out)
    assert segments(api) == segments(command) and api["words"] == command["words"]
    # an empty text is recognition, as without one
    assert segments(transcribe_api(server, path, text="")) == segments(transcribe_api(server, path))


def test_textgrid_and_phn_answers_and_the_pages_downloads(server, tiny_exp, recordings):
    path = recordings["sa1"]
    t = Recognizer.load(tiny_exp, "cpu").align(str(path), text=PROMPT)
    status, headers, body = post_audio(f"{server.url}/api/transcribe", path, "sa1.wav", text=PROMPT, format="textgrid")
    assert status == 200 and 'filename="sa1.TextGrid"' in headers["content-disposition"]
    assert body.decode() == t.to_textgrid()
    status, _, body = post_audio(f"{server.url}/api/transcribe", path, "sa1.wav", text=PROMPT, format="phn")
    assert status == 200 and body.decode() == t.to_phn()
    # the page's downloads: what it holds (the JSON answer) rendered by /api/export
    shown = transcribe_api(server, path, text=PROMPT)
    for fmt in ("textgrid", "phn", "wrd", "json"):
        status, headers, body = request(f"{server.url}/api/export", json.dumps({"transcript": shown, "format": fmt}).encode(),
                                        "application/json")
        assert status == 200, body
        if fmt == "textgrid":
            tiers = parse_textgrid(body.decode())
            assert [p for _, _, p in tiers["phones"]] == t.phones and [w for _, _, w in tiers["words"]] == PROMPT.split()
            assert np.allclose([s for s, _, _ in tiers["phones"]], [s for s, _, _ in t.segments], atol=1e-4)
        elif fmt == "phn":  # times rounded to 0.1 ms on the page: within 2 samples of the command's
            got = [line.split() for line in body.decode().splitlines()]
            want = [line.split() for line in t.to_phn().splitlines()]
            assert [g[2] for g in got] == [w[2] for w in want]
            assert max(abs(int(g[k]) - int(w[k])) for g, w in zip(got, want) for k in (0, 1)) <= 2
        elif fmt == "wrd":
            assert [line.split()[2] for line in body.decode().splitlines()] == PROMPT.split()
        else:
            assert json.loads(body)["segments"] == shown["segments"]
    assert_refused(request(f"{server.url}/api/export", b'{"transcript": {"duration": 1}}', "application/json"),
                   400, "transcript")
    assert_refused(request(f"{server.url}/api/export", json.dumps({"transcript": shown, "format": "mp4"}).encode(),
                           "application/json"), 400, "format")


def test_the_page_and_the_model_description(server, tiny_exp):
    status, headers, body = request(f"{server.url}/")
    assert status == 200 and b'<script type="module" src="/static/main.js">' in body
    assert "default-src 'self'" in headers["content-security-policy"]
    for name in re.findall(rb'(?:src|href)="/static/([^"]+)"', body):
        assert request(f"{server.url}/static/{name.decode()}")[0] == 200, name
    status, _, body = request(f"{server.url}/api/model")
    info = json.loads(body)
    assert status == 200 and info["name"] == "tiny" and len(info["phones"]) == 48 and info["sample_rate"] == 16000
    assert info["limits"] == {"max_bytes": LIMITS.max_bytes, "max_seconds": LIMITS.max_seconds,
                              "max_text_chars": LIMITS.max_text_chars}
    details = dict(info["details"])
    assert details["architecture"].startswith("crdnn") and details["phone set"] == "48 phones"
    assert not info["card"] and "not recorded" in info["trained_on"]
    # how it decodes is the resolver's line, saying where each setting came from
    assert details["decoding"] == server.recognizer.description.decoding
    assert details["decoding"].startswith("greedy") and "(method, blank_penalty: default)" in details["decoding"]


def test_the_page_reads_the_model_file_once_and_shows_the_resolvers_decoding(tiny_exp, tmp_path, monkeypatch):
    """Recognizer.load reads model.pt; the page's description comes from what it read (Recognizer.description),
    and its decoding line is the resolver's (tuned settings, the caller's, each with its source), not the
    settings model.pt stores."""
    import torch

    from phonerec.config import DecodeConfig
    from phonerec.inference.decode_settings import store_tuned

    exp = tmp_path / "tuned"
    shutil.copytree(tiny_exp, exp)
    store_tuned(exp, DecodeConfig(method="beam", beam=8, blank_penalty=0.5), None,
                {"split": "dev", "manifest": "/d/manifests/dev.json"}, 30.0)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a[0] if a else k.get("f")) or real_load(*a, **k))
    server = ServerThread(exp, beam=4)  # the caller changes one of the tuned settings
    try:
        assert [Path(f).name for f in loads] == ["model.pt"]  # Recognizer.load's, and no other
        info = json.loads(request(f"{server.url}/api/model")[2])
    finally:
        server.stop()
    decoding = dict(info["details"])["decoding"]
    assert decoding == server.recognizer.description.decoding
    assert decoding.startswith("beam 4, lm_weight 0, insertion_bonus +0, blank_penalty 0.5 (")
    assert "beam: Recognizer.load" in decoding and "method, blank_penalty: tuned on /d/manifests/dev.json of" in decoding
    assert len(loads) == 1


def test_the_bundled_model_is_described_by_its_card_and_its_tuned_decoding():
    from phonerec.inference.bundled import bundled_card

    if bundled_model_path() is None:
        pytest.skip("this copy of phonerec ships no model")
    r = Recognizer.load(None, "cpu")
    info = describe_model(r)
    card = bundled_card()
    assert info["card"] and info["name"] == card["name"] and info["trained_on"] == card["trained_on"]
    assert info["figures"] == [[k, v] for k, v in card["figures"].items()]
    decoding = dict(info["details"])["decoding"]
    assert decoding == r.description.decoding and "tuned on " in decoding


def test_the_model_card_or_the_experiments_figures_describe_the_model(tiny_exp, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(tiny_exp, exp)
    (exp / "decode_test").mkdir()
    (exp / "decode_test" / "per.json").write_text(json.dumps(
        {"per": 37.83, "n_utts": 192, "convention": "sil_merged", "sil_optional": {"per": 36.52}}))
    info = describe_model(Recognizer.load(exp, "cpu"))
    assert info["figures"] == [["test PER (sil_merged)", "37.83 % (192 utterances)"], ["test PER (sil_optional)", "36.52 %"]]
    (exp / "card.json").write_text(json.dumps({"name": "phonerec English", "trained_on": "speechocean762 train",
                                               "figures": {"test PER": "37.83 %"}}))
    info = describe_model(Recognizer.load(exp / "model.pt", "cpu"))
    assert info["card"] and info["name"] == "phonerec English" and info["trained_on"] == "speechocean762 train"
    assert info["figures"] == [["test PER", "37.83 %"]] and dict(info["details"])["phone set"] == "48 phones"
    (exp / "card.json").write_text("{not json")  # an unreadable card is left out, not fatal
    assert describe_model(Recognizer.load(exp, "cpu"))["card"] is False
    recorded = {"train": {"manifest": "/d/manifests/train.json", "digest": "1"}, "dev": {"manifest": "/d/dev.json"}}
    assert recorded_training(recorded).startswith("manifests train /d/manifests/train.json, dev /d/dev.json")


# --- bad input is a sentence, and the server goes on ---------------------------------------------------

def test_each_bad_input_is_one_sentence_and_the_server_goes_on(server, recordings):
    url = f"{server.url}/api/transcribe"
    assert_refused(post_audio(url, b"this is not audio at all", "notes.wav"), 422, "notes.wav", "not a readable audio")
    assert_refused(post_audio(url, b"", "empty.wav"), 422, "empty.wav")
    assert_refused(post_audio(url, wav_bytes(np.zeros(160, np.int16)), "short.wav"), 422, "short.wav", "too short")
    message = assert_refused(post_audio(url, wav_bytes(np.zeros(16000, np.int16)), "quiet.wav"), 422, "quiet.wav", "silence")
    assert message.startswith("quiet.wav is digital silence")
    message = assert_refused(post_audio(url, recordings["sa1"], "sa1.wav", text="she had your xyzzy suit"),
                             422, "xyzzy", "lexicon")
    assert "cmudict" in message
    assert_refused(post_audio(url, recordings["sa1"], "sa1.wav", format="mp4"), 400, "format")
    body, ctype = multipart({"text": "no audio here"})
    assert_refused(request(url, body, ctype), 400, "audio")
    assert_refused(request(url, b'{"audio": 1}', "application/json"), 400, "multipart")
    assert_refused(request(f"{server.url}/api/nothing"), 404, "/api/nothing")
    assert_refused(request(f"{server.url}/api/transcribe"), 405, "GET")
    assert transcribe_api(server, recordings["sa1"])["segments"]  # still answering
    for name in os.listdir(server.engine.upload_dir):  # and no upload was kept
        pytest.fail(f"an upload was left on disk: {name}")


def test_a_failing_request_is_a_500_sentence_and_the_server_goes_on(server, recordings, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(server.recognizer, "transcribe", broken)
    message = assert_refused(post_audio(f"{server.url}/api/transcribe", recordings["sa1"]), 500, "simulated bug")
    assert "still running" in message
    monkeypatch.undo()
    assert transcribe_api(server, recordings["sa1"])["segments"]
    assert not os.listdir(server.engine.upload_dir)


def test_warnings_come_from_the_transcript_not_from_the_log(server, recordings, monkeypatch):
    """The answer's warnings are the Transcript's, said about the upload (not its temporary file), and silence
    is refused from them: with the library's logger silenced, both still hold."""
    import logging

    monkeypatch.setattr(logging.getLogger("phonerec.transcribe"), "disabled", True)
    url = f"{server.url}/api/transcribe"
    data, sr = sf.read(recordings["sa1"], dtype="float32")
    clipped = np.clip(data * 50, -1, 1)  # most of its peaks at full scale
    for text in ({}, {"text": PROMPT}):
        status, _, body = post_audio(url, wav_bytes((clipped * 32767).astype(np.int16), sr), "loud.wav", **text)
        assert status == 200, body
        warnings = json.loads(body)["warnings"]  # clipped, and maybe louder than the training recordings
        assert warnings[0].startswith("loud.wav is clipped (") and all(w.startswith("loud.wav is ") for w in warnings)
    assert_refused(post_audio(url, wav_bytes(np.zeros(16000, np.int16)), "quiet.wav"), 422, "quiet.wav", "silence")
    # the page's downloads keep them
    shown = transcribe_api(server, recordings["sa1"])
    shown["warnings"] = ["sa1.wav is clipped (1 %)"]
    status, _, body = request(f"{server.url}/api/export", json.dumps({"transcript": shown, "format": "json"}).encode(),
                              "application/json")
    assert status == 200 and json.loads(body)["warnings"] == shown["warnings"]


# --- limits ------------------------------------------------------------------------------------------

def test_size_and_duration_limits_are_a_clear_413(server, recordings):
    url = f"{server.url}/api/transcribe"
    noise = (np.random.default_rng(0).standard_normal(16000 * 9) * 3000).astype(np.int16)  # 9 s > 8 s, 288 kB
    assert_refused(post_audio(url, wav_bytes(noise), "long.wav"), 413, "long.wav", "9.0 s", "8 s")
    big = wav_bytes(np.zeros(16000 * 70, np.int16))  # 2.2 MB > 2 MiB, refused on its Content-Length
    assert_refused(post_refused_early(server, big), 413, "2 MiB")
    assert_refused(post_audio(url, recordings["sa1"], "sa1.wav", text="word " * 100), 413, "text", "400")
    # a chunked upload (no Content-Length) is counted as it comes
    body, ctype = multipart({"audio": ("big.wav", big)})
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=60)
    chunks = (body[k:k + 65536] for k in range(0, len(body), 65536))
    try:
        try:
            conn.request("POST", "/api/transcribe", body=chunks, headers={"Content-Type": ctype}, encode_chunked=True)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the last chunk: the answer is there to read
        r = conn.getresponse()
        assert_refused((r.status, dict(r.headers), r.read()), 413, "2 MiB")
    finally:
        conn.close()
    # a declared length over the limit is refused before any of the body is read
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.putrequest("POST", "/api/transcribe")
        conn.putheader("Content-Type", ctype)
        conn.putheader("Content-Length", str(3 * 2 ** 30))
        conn.endheaders()
        r = conn.getresponse()
        assert_refused((r.status, dict(r.headers), r.read()), 413, "2 MiB")
    finally:
        conn.close()
    assert transcribe_api(server, recordings["sa1"])["segments"]
    assert not os.listdir(server.engine.upload_dir)


def test_eight_concurrent_requests_give_the_sequential_answers(server, recordings):
    jobs = [(recordings[k], text) for k in ("sa1", "sx0", "sx1", "sa1_sphere") for text in (None, PROMPT)]
    jobs = [(p, t) for p, t in jobs if not (t and p.name.startswith("sx"))] + [(recordings["sx0"], None)] * 2
    assert len(jobs) == 8

    def ask(job):
        path, text = job
        return transcribe_api(server, path, **({"text": text} if text else {}))

    sequential = [ask(job) for job in jobs]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(ask, jobs))
    assert concurrent == sequential
    assert len({json.dumps(a["segments"]) for a in sequential}) >= 3  # the answers do differ between inputs


# --- nothing of the request's choosing is read or written ---------------------------------------------

def test_no_request_chooses_a_path(server, recordings, tmp_path):
    for path in ("/static/../app.py", "/static/%2e%2e/engine.py", "/static/..%2fapp.py", "/static/engine.py",
                 "/static//etc/passwd"):
        conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
        conn.request("GET", path)  # sent as written, not normalised by a client
        r = conn.getresponse()
        assert r.status == 404 and b"import" not in r.read(), path
        conn.close()
    # the upload's name is only a name: nothing is written there, and it is shown without its folders
    target = tmp_path / "evil.wav"
    status, _, body = post_audio(f"{server.url}/api/transcribe", recordings["sa1"], f"../../..{target}")
    assert status == 200 and json.loads(body)["file"] == "evil.wav" and not target.exists()
    # a text that names a file is words to align, never the file's content
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("she had\n")
    status, _, body = post_audio(f"{server.url}/api/transcribe", recordings["sa1"], "sa1.wav", text=str(prompt))
    assert status == 422 or [w["word"] for w in json.loads(body)["words"]] != ["she", "had"]
    assert not os.listdir(server.engine.upload_dir)


def test_requests_for_another_host_or_from_another_page_are_refused(server):
    assert_refused(request(f"{server.url}/api/model", headers={"Host": "evil.example"}), 403, "127.0.0.1")
    body, ctype = multipart({"audio": ("a.wav", b"x")})
    assert_refused(request(f"{server.url}/api/transcribe", body, ctype, headers={"Origin": "http://evil.example"}),
                   403, "evil.example")
    assert request(f"{server.url}/api/model", headers={"Host": "localhost"})[0] == 200


def test_the_page_loads_nothing_from_elsewhere():
    files = static_files()
    assert {"index.html", "main.js", "style.css"} <= set(files)
    for name, data in files.items():
        text = data.decode()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|from\s+["'](https?:)?//|@import""",
                             text), name
        for imported in re.findall(r"""from\s+["']\./([^"']+)["']""", text):
            assert imported in files, (name, imported)


# --- the command -------------------------------------------------------------------------------------

def test_serve_without_a_model_names_the_option(capsys, monkeypatch, tmp_path):
    from phonerec.inference import bundled

    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path)  # a copy of phonerec that ships no model
    assert bundled_model_path() is None
    assert serve_command.main([]) == 2
    assert "--model" in capsys.readouterr().err
    assert serve_command.main(["--model", "/nonexistent/model.pt"]) == 2
    assert "/nonexistent/model.pt" in capsys.readouterr().err


def test_serve_on_a_port_in_use_is_one_line(tiny_exp, capsys):
    sock = serve_command.listen("127.0.0.1", 0)
    try:
        assert serve_command.main(["--model", str(tiny_exp), "--port", str(sock.getsockname()[1])]) == 2
    finally:
        sock.close()
    err = capsys.readouterr().err
    assert "--port" in err and "Traceback" not in err
    assert serve_command.is_loopback("127.0.0.1") and serve_command.is_loopback("::1")
    assert serve_command.is_loopback("localhost") and not serve_command.is_loopback("0.0.0.0")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_the_command_prints_its_address_and_stops_cleanly_on_ctrl_c(tiny_exp, recordings, tmp_path, stop):
    tmp = tmp_path / "tmp"  # the server's temporary folder goes here, so we can see it removed
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "phonerec", "serve", "--model", str(tiny_exp), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp)})
    try:
        line = proc.stdout.readline()
        address = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert address, line + proc.stderr.read()
        status, _, body = post_audio(f"{address.group(0)}api/transcribe", recordings["sa1"])
        assert status == 200 and json.loads(body)["segments"]
        assert len(os.listdir(tmp)) == 1  # its private folder, empty between requests
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert os.listdir(tmp) == []
