#!/usr/bin/env python3
"""PocketSphinx allphone phone recognition of a list of wav files, for scripts/peer_benchmark.py.

Runs in PocketSphinx's own virtual environment (standard library + pocketsphinx only; never in
phonerec's), e.g.

    python3 -m venv .venv-peer && .venv-peer/bin/pip install pocketsphinx==5.1.1
    .venv-peer/bin/python scripts/peer_pocketsphinx.py list.json out.json

`list.json`: [{"id": "...", "wav": "path.wav"}, ...]; every wav is RIFF, mono, 16 kHz, 16-bit PCM
(peer_benchmark.py converts other audio first). `out.json`: {"pocketsphinx": version, "config":
{...}, "utts": {id: {"phones": [CMU phones as decoded: SIL, +NSN+...], "segments": [[start_s, end_s,
phone], ...], "decode_s": CPU seconds, "wall_s": wall seconds, "audio_s": seconds}}}.

Settings: the bundled en-us acoustic model (the Decoder's default hmm) with the bundled phone LM
en-us-phone.lm.bin, and the options of CMUSphinx's phoneme recognition tutorial
(cmusphinx.github.io/wiki/phonemerecognition: `-allphone model/en-us/en-us-phone.lm.bin
-backtrace yes -beam 1e-20 -pbeam 1e-20 -lw 2.0`); -backtrace only prints the result to the log,
so it is left out. Everything else is PocketSphinx 5's default (allphone_ci yes, pip 1.0, cmn batch).
Nothing was tuned on any evaluation set. Each file is decoded as one utterance (process_raw with
full_utt=True); `decode_s` is the process CPU time of start_utt..end_utt (PocketSphinx is
single-threaded), `wall_s` the wall-clock time of the same; reading the file is not timed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import wave

SETTINGS = {"beam": 1e-20, "pbeam": 1e-20, "lw": 2.0}  # the tutorial's; see the module doc
FRAME_S = 0.01  # PocketSphinx's default frame rate: 100 frames per second


def read_pcm16(path: str) -> tuple[bytes, float]:
    """(raw 16-bit little-endian samples, duration s) of a mono 16 kHz 16-bit PCM RIFF wav."""
    try:
        with wave.open(path, "rb") as w:
            if (w.getnchannels(), w.getframerate(), w.getsampwidth()) != (1, 16000, 2):
                raise ValueError(f"{path}: need mono 16 kHz 16-bit PCM, got {w.getnchannels()} channel(s), "
                                 f"{w.getframerate()} Hz, {8 * w.getsampwidth()} bit")
            n = w.getnframes()
            return w.readframes(n), n / 16000
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a readable PCM wav ({e})") from None


def make_decoder():
    import pocketsphinx as ps

    return ps.Decoder(allphone=ps.get_model_path("en-us/en-us-phone.lm.bin"), loglevel="ERROR", **SETTINGS)


def decode(decoder, pcm: bytes) -> tuple[list[list], float, float]:
    """([[start_s, end_s, phone], ...], CPU seconds, wall seconds) of one utterance."""
    t0, w0 = time.process_time(), time.perf_counter()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    # end_frame is inclusive
    segs = [[round(s.start_frame * FRAME_S, 3), round((s.end_frame + 1) * FRAME_S, 3), s.word] for s in decoder.seg()]
    return segs, cpu, wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("wav_list", help='JSON list of {"id", "wav"}')
    p.add_argument("out", help="JSON output")
    a = p.parse_args(argv)
    from importlib.metadata import version

    items = json.load(open(a.wav_list))
    decoder = make_decoder()
    utts = {}
    for k, item in enumerate(items):
        pcm, audio_s = read_pcm16(item["wav"])
        segs, cpu, wall = decode(decoder, pcm)
        utts[item["id"]] = {"phones": [s[2] for s in segs], "segments": segs, "decode_s": round(cpu, 4),
                            "wall_s": round(wall, 4), "audio_s": audio_s}
        if (k + 1) % 50 == 0:
            print(f"pocketsphinx: {k + 1}/{len(items)} files", file=sys.stderr, flush=True)
    config = {"hmm": decoder.config["hmm"], "allphone": decoder.config["allphone"],
              "allphone_ci": decoder.config["allphone_ci"], "pip": decoder.config["pip"],
              "cmn": decoder.config["cmn"], **SETTINGS}
    with open(a.out, "w") as f:
        json.dump({"pocketsphinx": version("pocketsphinx"), "config": config, "utts": utts}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
