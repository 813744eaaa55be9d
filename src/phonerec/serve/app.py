"""The HTTP app of `phonerec serve`: the page (static files shipped in the package) and its API.

    GET  /                 the page
    GET  /static/<name>    its scripts and style (a fixed list read from the package at start: no path
                           a request names is ever opened)
    GET  /api/model        what the model is (model_info.describe_model of the Recognizer) and the server's limits
    POST /api/transcribe   multipart `audio` (+ `text`: align its words; + `format`: json | textgrid | phn
                           | wrd) -> Transcript.to_dict() (its `warnings` included), or the file in that format
    POST /api/audio        multipart `audio` -> the mono 16-bit WAV at the model's rate that it hears
    POST /api/export       JSON {"transcript": <to_dict() JSON>, "format": ...} -> that file (the page's
                           downloads of what it shows)

Every error is JSON {"error": "<one sentence>"} with its status (400 bad request, 404, 413 too large
or too long, 422 audio or text that cannot be used, 500 a bug), never a traceback; a failing request
leaves the server running.
"""
from __future__ import annotations

import io
import json
import logging
import math
import wave
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from phonerec.features.audio import AudioError, load_audio
from phonerec.serve.engine import Engine, ServeError, display_name
from phonerec.textgrid import format_phn
from phonerec.transcribe import Transcript

log = logging.getLogger(__name__)

FORMATS = {"json": ("application/json", ".json"), "textgrid": ("text/plain; charset=utf-8", ".TextGrid"),
           "phn": ("text/plain; charset=utf-8", ".phn"), "wrd": ("text/plain; charset=utf-8", ".wrd")}
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
# The page may load nothing from elsewhere: no CDN, no font or script from the internet.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
MAX_EXPORT_BYTES = 64 * 2 ** 20
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def static_files() -> dict[str, bytes]:
    """{name: bytes} of every file in serve/static, read once: the only files the server sends."""
    folder = resources.files("phonerec.serve").joinpath("static")
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and Path(f.name).suffix in MEDIA_TYPES}


def create_app(engine: Engine, model_info: dict, *, loopback_only: bool = True) -> Starlette:
    """The Starlette app over `engine`; `model_info`: describe_model(engine.recognizer). `loopback_only`:
    answer only requests addressed to localhost / 127.0.0.1 (a web page elsewhere cannot reach the server
    through DNS rebinding)."""
    files = static_files()
    limits = engine.limits
    info = {**model_info, "limits": {"max_bytes": limits.max_bytes, "max_seconds": limits.max_seconds,
                                     "max_text_chars": limits.max_text_chars}}

    async def index(request: Request) -> Response:
        return Response(files["index.html"], media_type=MEDIA_TYPES[".html"])

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            raise ServeError(404, f"no such file: /static/{name}")
        return Response(files[name], media_type=MEDIA_TYPES[Path(name).suffix], headers={"Cache-Control": "no-cache"})

    async def model(request: Request) -> Response:
        return JSONResponse(info)

    async def transcribe(request: Request) -> Response:
        upload = await read_upload(request, engine)
        fmt = upload.fields.get("format") or "json"
        if fmt not in FORMATS:
            upload.path.unlink(missing_ok=True)
            raise ServeError(400, f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        text = upload.fields.get("text")
        t = await run_in_threadpool(engine.transcribe, upload.path, upload.name, text or None)
        if fmt == "json":
            return JSONResponse(t.to_dict())
        return rendered(t, fmt)

    async def heard(request: Request) -> Response:
        upload = await read_upload(request, engine)
        data = await run_in_threadpool(heard_wav, engine, upload.path, upload.name)
        return Response(data, media_type="audio/wav")

    async def export(request: Request) -> Response:
        body = await read_limited(request, MAX_EXPORT_BYTES)
        try:
            doc = json.loads(body)
            fmt = doc.get("format", "json")
            t = transcript_from_dict(doc["transcript"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ServeError(400, f"expected JSON {{\"transcript\": <the JSON /api/transcribe gave>, \"format\": "
                                  f"...}} ({type(e).__name__}: {e})") from None
        if fmt not in FORMATS:
            raise ServeError(400, f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        return rendered(t, fmt)

    routes = [Route("/", answers(index)), Route("/static/{name}", answers(static)),
              Route("/api/model", answers(model)), Route("/api/transcribe", answers(transcribe), methods=["POST"]),
              Route("/api/audio", answers(heard), methods=["POST"]), Route("/api/export", answers(export), methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                     middleware=[Middleware(Guard, loopback_only=loopback_only)])


def answers(handler):
    """The handler, with a bad request answered as one sentence and any other failure as a 500 that
    names the error (its traceback goes to the server's log), so the server keeps running."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ServeError as e:
            return error_response(e.status, e.message)
        except HTTPException:
            raise
        except Exception as e:  # noqa: BLE001 - one request's failure must not stop the server
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, f"internal error ({type(e).__name__}: {e}); the server is still running")
    return wrapped


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own refusals (unknown path, wrong method, a malformed multipart body) as JSON."""
    detail = {404: f"no such page: {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}
    return error_response(exc.status_code, detail.get(exc.status_code, str(exc.detail)))


@dataclass
class Upload:
    path: Path  # the audio, in the engine's private folder (the engine deletes it)
    name: str  # the name the user gave it, for messages
    fields: dict  # the other form fields (text, format)


class TooLarge(Exception):
    pass


async def read_upload(request: Request, engine: Engine) -> Upload:
    """The multipart `audio` file written to a fresh path of the engine's, and the text fields; the
    size limit is checked on the declared length first, then on the bytes as they come."""
    limit = engine.limits.max_bytes
    too_large = ServeError(413, f"the upload is larger than this server takes ({limit / 2 ** 20:.0f} MiB; "
                                "phonerec serve --max-mb)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ServeError(400, "send a multipart/form-data body with the audio file as the field 'audio'")
    counted = Request(request.scope, counting_receive(request.receive, limit))
    path = None
    try:
        async with counted.form(max_files=1, max_fields=8) as form:
            audio = form.get("audio")
            if not isinstance(audio, UploadFile):
                raise ServeError(400, "no audio: send the recording as the multipart file field 'audio'")
            path = engine.new_upload_path(audio.filename)
            with open(path, "xb") as out:
                while chunk := await audio.read(1 << 20):
                    out.write(chunk)
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
    except TooLarge:
        raise too_large from None
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return Upload(path, display_name(audio.filename), fields)


def counting_receive(receive, limit: int):
    """ASGI `receive` that raises TooLarge once the body passes `limit` bytes (a chunked upload)."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise TooLarge
        return message
    return wrapped


async def read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ServeError(413, f"the request is larger than {limit / 2 ** 20:.0f} MiB")
    return bytes(body)


def heard_wav(engine: Engine, path: Path, name: str) -> bytes:
    """The upload as the model hears it (mono, its sample rate) as 16-bit WAV bytes; deletes `path`."""
    try:
        engine.check_duration(path, name)
        try:
            samples = load_audio(path, engine.recognizer.sample_rate).numpy()  # (T,) float32
        except AudioError as e:
            raise ServeError(422, str(e).replace(str(path), name)) from None
    finally:
        path.unlink(missing_ok=True)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(engine.recognizer.sample_rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()


def rendered(t: Transcript, fmt: str) -> Response:
    """`t` as a download in `fmt`, named after its file."""
    if fmt == "json":
        text = json.dumps(t.to_dict()) + "\n"
    elif fmt == "textgrid":
        text = t.to_textgrid()
    elif fmt == "phn":
        text = t.to_phn()
    else:
        if t.words is None:
            raise ServeError(400, "format 'wrd' needs words: give a text to align")
        text = format_phn(t.words, 16000)
    stem = (Path(t.path).name.split(".")[0] or "transcript").replace('"', "")
    media_type, suffix = FORMATS[fmt]
    return Response(text, media_type=media_type,
                    headers={"Content-Disposition": f"attachment; filename=\"{stem}{suffix}\""})


def transcript_from_dict(d: dict) -> Transcript:
    """A Transcript back from its to_dict() JSON (what the page holds), checked: ValueError if it is not one."""
    duration = float(d["duration"])
    segments, confidence = [], []
    for s in d["segments"]:
        start, end = float(s["start"]), float(s["end"])
        if not (0 <= start <= end <= duration + 1e-3) or not math.isfinite(end):
            raise ValueError(f"segment {s} is not within 0..{duration} s")
        segments.append((start, end, str(s["phone"])))
        confidence.append(float(s.get("confidence") or 0.0))
    words = [(float(w["start"]), float(w["end"]), str(w["word"])) for w in d["words"]] if d.get("words") is not None else None
    warnings = d.get("warnings") or []
    if not isinstance(warnings, list):
        raise ValueError("warnings is not a list")
    return Transcript(display_name(str(d.get("file", ""))), [p for _, _, p in segments], duration, 16000,
                      segments, confidence, words, [str(w) for w in warnings])


class Guard:
    """ASGI middleware: refuse a request addressed to another host than the loopback one (when the
    server listens there) or sent by a page of another origin, and give every answer headers that
    keep the page from loading anything from elsewhere."""

    def __init__(self, app, loopback_only: bool = True):
        self.app, self.loopback_only = app, loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        problem = None
        if self.loopback_only and hostname not in LOOPBACK_HOSTS:
            problem = f"this server answers only requests to 127.0.0.1 or localhost, not to {host!r}"
        origin = headers.get("origin")
        if origin and origin not in (f"http://{host}", f"https://{host}"):
            problem = f"requests from another page ({origin}) are refused"
        if problem:
            return await error_response(403, problem)(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
            await send(message)
        await self.app(scope, receive, send_with_headers)
