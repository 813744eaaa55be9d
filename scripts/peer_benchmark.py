#!/usr/bin/env python3
"""Peer benchmark: PocketSphinx 5.1.1 allphone against a phonerec model, on the same recordings.

    python scripts/peer_benchmark.py --timit /tmp/ljspeech_eval --model recipes/timit/exp/crdnn
    python scripts/peer_benchmark.py --timit /path/to/TIMIT --speakers core --model exp/x --json out.json

Input: the TEST split of a TIMIT-layout tree (`phonerec.corpora.timit.scan`): real TIMIT, the
synthetic corpus, or the LJSpeech evaluation set of /work/shared/tools/make_ljspeech_eval.py.
SA sentences are left out (as in every TIMIT convention) unless --keep-sa.

Both systems' phones are scored with phonerec.evaluation.per on the 39 folded phones:
- `sil_optional`: the project's Kaldi-style convention (a reference sil may be deleted for free);
- `without sil`: every sil removed from reference and hypothesis after folding to 39, then scored as
  phonerec's `sil_merged` (the same alignment with no sil left to score);
- `sil_merged` is computed as well (in --json only).

PocketSphinx runs in its own virtual environment (it must not be installed into phonerec's):
    python3 -m venv .venv-peer && .venv-peer/bin/pip install pocketsphinx==5.1.1
(or pass --setup-peer once), through scripts/peer_pocketsphinx.py in a subprocess; see that file for
its settings (the bundled en-us model and en-us-phone.lm.bin with the CMUSphinx tutorial's
-beam 1e-20 -pbeam 1e-20 -lw 2.0; nothing tuned here). Its output phones are CMU ARPAbet (the 39
CMUdict phones in upper case) plus SIL and fillers (+NSN+, +SPN+, +BREATH+...): the phones are
lower-cased and folded to the 39 set (ao -> aa, zh -> sh, the others are TIMIT symbols already);
SIL and every filler (a word in + signs) become sil.

phonerec: the model (`--model`, an experiment folder or model.pt) transcribes each recording on the
CPU with torch.set_num_threads(1), with its own decoding settings (those carried in model.pt), through
`Recognizer.transcribe`. When the references have no stop closures at all (the LJSpeech set: MFA's
`t` covers closure and burst), a hypothesis closure directly followed by its release (`tcl t`,
`vcl b`...) is merged into the release before scoring, as that set's README asks; otherwise
(TIMIT) nothing is changed. PocketSphinx never outputs closures.

Speed: real-time factor = decoding time / audio duration over all recordings, one CPU thread each,
reading the files not counted; the CPU time of the process (robust on a shared machine) and the
wall-clock time are both given. phonerec's first recording is decoded once before timing (warm-up).

Boundaries (phonerec only): the reference phones of each recording, forced-aligned by
`Recognizer.align(phones=...)`, against the reference times, by phonerec.evaluation.boundaries
(forced_row_errors, boundary_metric: internal boundaries after folding to the model's phone set):
the share within 20 ms and the mean absolute deviation. The boundaries before a stop or affricate
(b d g p t k ch jh) are also given apart: on the LJSpeech set the reference puts them at closure
onset, where a TIMIT model aligning closure-free phones may put them at the burst (README caveat).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from phonerec.corpora import timit
from phonerec.evaluation import boundaries
from phonerec.evaluation.per import Score, score
from phonerec.phones import fold
from phonerec.segments import merge_segments, reference_segments

log = logging.getLogger("peer_benchmark")

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".venv-peer"
PEER_SCRIPT = Path(__file__).resolve().parent / "peer_pocketsphinx.py"
PEER_PACKAGE = "pocketsphinx==5.1.1"
PEER_SETUP = f"python3 -m venv .venv-peer && .venv-peer/bin/pip install {PEER_PACKAGE}"

# The 39 CMUdict (ARPAbet) phones of PocketSphinx's en-us model, besides SIL and the fillers.
CMU_PHONES = frozenset("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
                       "UH UW V W Y Z ZH".split())
CLOSURES = frozenset({"bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "cl", "vcl"})  # 61- and 48-phone symbols
RELEASES = frozenset({"b", "d", "g", "p", "t", "k", "ch", "jh"})  # stops and affricates
CONVENTIONS = ("sil_optional", "without_sil", "sil_merged")
TOLERANCE_MS = 20


def cmu_to_39(phones: list[str]) -> list[str]:
    """PocketSphinx's phones (CMU ARPAbet, SIL, fillers such as +NSN+) -> the 39 folded phones:
    SIL and every +filler+ -> sil, the CMU phones lower-cased and folded (ao -> aa, zh -> sh),
    consecutive sil merged (phones.fold). ValueError names a phone that is neither."""
    out = []
    for p in phones:
        if p == "SIL" or (len(p) > 2 and p.startswith("+") and p.endswith("+")):
            out.append("sil")
        elif p.upper() in CMU_PHONES:
            out.append(p.lower())
        else:
            raise ValueError(f"unknown PocketSphinx phone {p!r} (expected a CMU phone, SIL or a +filler+)")
    return fold(out, 39)


def has_closures(refs: dict[str, list[str]]) -> bool:
    """Whether any reference has a stop closure (TIMIT does; the LJSpeech set from MFA never)."""
    return any(p in CLOSURES for phones in refs.values() for p in phones)


def merge_closures(phones: list[str]) -> list[str]:
    """A closure directly followed by a stop or affricate is merged into it (`tcl t` -> `t`), for
    references transcribed without closures; a closure with no release after it stays."""
    return [p for k, p in enumerate(phones) if not (p in CLOSURES and k + 1 < len(phones) and phones[k + 1] in RELEASES)]


def score_all(refs: dict[str, list[str]], hyps: dict[str, list[str]]) -> dict[str, Score]:
    """{convention: Score} of hypotheses against references (any TIMIT phone set, folded to 39 by
    per.score): sil_optional, without_sil (sil removed from both after folding), sil_merged."""
    def strip(d: dict) -> dict:
        return {u: [p for p in fold(ps, 39) if p != "sil"] for u, ps in d.items()}

    out = {c: score(refs, hyps, c)[0] for c in ("sil_optional", "sil_merged")}
    out["without_sil"] = dataclasses.replace(score(strip(refs), strip(hyps), "sil_merged")[0], convention="without_sil")
    return {c: out[c] for c in CONVENTIONS}


def speed(decode_s: float, wall_s: float, audio_s: float) -> dict:
    return {"decode_cpu_s": round(decode_s, 3), "decode_wall_s": round(wall_s, 3), "audio_s": round(audio_s, 3),
            "rtf_cpu": round(decode_s / audio_s, 4) if audio_s else None,
            "rtf_wall": round(wall_s / audio_s, 4) if audio_s else None}


# ---------------------------------------------------------------------------------------------- corpus

def load_test_split(root, speakers: str | None = None, keep_sa: bool = False, limit: int | None = None) -> dict[str, dict]:
    """{utt_id: manifest row} of the TEST split of a TIMIT-layout tree, sorted by utt_id.
    `speakers`: "core", "dev" (the standard lists) or a speaker-list file; None: every TEST speaker."""
    scan = timit.scan(root)
    utts = [u for u in scan.utterances if u.split == "test" and (keep_sa or not u.is_sa)]
    if speakers:
        path = timit.standard_speaker_list("core_test" if speakers == "core" else "dev") \
            if speakers in ("core", "dev") else Path(speakers)
        wanted = set(timit.read_speaker_list(path))
        utts = [u for u in utts if u.speaker in wanted]
    if not utts:
        raise SystemExit(f"{root}: no TEST utterances found (speakers: {speakers or 'all'})")
    bad = [u.problem for u in utts if u.problem]
    if bad:
        raise SystemExit(f"{root}: {len(bad)} unusable TEST utterance(s): " + "; ".join(bad[:5]))
    rows = {u.utt_id: timit.manifest_row(u) for u in sorted(utts, key=lambda u: u.utt_id)}
    return dict(list(rows.items())[:limit]) if limit else rows


# ---------------------------------------------------------------------------------------- pocketsphinx

def setup_peer(venv: Path = PEER_VENV) -> Path:
    """Create `venv` with PocketSphinx in it (its own environment, never phonerec's); its python."""
    python = venv / "bin" / "python"
    if not python.exists():
        log.info("creating %s with %s", venv, PEER_PACKAGE)
        # a venv made from a venv's python is a fresh one on the base interpreter: nothing of phonerec's in it
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", PEER_PACKAGE], check=True)
    return python


def _pcm16_wav(row: dict, tmp: Path, utt_id: str) -> str:
    """The recording as a mono 16 kHz 16-bit RIFF wav (PocketSphinx's input): the file itself when
    it is one, else a converted copy in `tmp` (TIMIT's SPHERE files)."""
    import soundfile as sf

    info = sf.info(row["wav"])
    if (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, 16000):
        return row["wav"]
    from phonerec.features.audio import load_audio

    out = tmp / f"{utt_id}.wav"
    sf.write(str(out), load_audio(row["wav"], 16000).numpy(), 16000, subtype="PCM_16", format="WAV")
    return str(out)


def run_pocketsphinx(rows: dict[str, dict], python: Path, cache: Path | None = None) -> dict:
    """PocketSphinx's decoding of every recording (peer_pocketsphinx.py's JSON), run with `python`
    (the peer environment's) in a subprocess on one thread; reused from `cache` when it holds
    every utterance (same ids and durations), else written there."""
    if cache is not None and cache.exists():
        doc = json.loads(cache.read_text())
        # same utterance ids and durations: the same recordings (ids alone repeat across TIMIT-layout corpora)
        if all(u in doc["utts"] and abs(doc["utts"][u]["audio_s"] - row["duration"]) < 1e-3 for u, row in rows.items()):
            log.info("PocketSphinx output reused from %s", cache)
            return doc
        log.info("%s is not PocketSphinx's output of these recordings: decoding anew", cache)
    if not Path(python).exists():
        raise SystemExit(f"{python}: no PocketSphinx environment; make it with `{PEER_SETUP}` "
                         f"(from the repository root) or pass --setup-peer, or give --peer-python")
    with tempfile.TemporaryDirectory(prefix="peer_ps_") as tmp:
        tmp = Path(tmp)
        items = [{"id": u, "wav": _pcm16_wav(row, tmp, u)} for u, row in rows.items()]
        (tmp / "list.json").write_text(json.dumps(items))
        out = cache or tmp / "out.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        log.info("PocketSphinx: decoding %d recordings with %s", len(items), python)
        subprocess.run([str(python), str(PEER_SCRIPT), str(tmp / "list.json"), str(out)], check=True, env=env)
        return json.loads(Path(out).read_text())


def pocketsphinx_result(rows: dict, refs: dict, doc: dict) -> dict:
    hyps = {u: cmu_to_39(doc["utts"][u]["phones"]) for u in rows}
    decode = sum(doc["utts"][u]["decode_s"] for u in rows)
    wall = sum(doc["utts"][u].get("wall_s", doc["utts"][u]["decode_s"]) for u in rows)
    audio = sum(doc["utts"][u]["audio_s"] for u in rows)
    return {"system": f"PocketSphinx {doc['pocketsphinx']} allphone", "config": doc["config"],
            "scores": {c: s.as_dict() for c, s in score_all(refs, hyps).items()},
            "speed": speed(decode, wall, audio), "hyps": {u: " ".join(h) for u, h in hyps.items()}}


# -------------------------------------------------------------------------------------------- phonerec

class Flagged(logging.Filter):
    """Holds back the warning phonerec logs for each recording (level, clipping...) and keeps them,
    for one summary line and the JSON, instead of one console line per recording."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []
        self.current = ""  # the utt_id being decoded (the API names a waveform only by its index)

    def filter(self, record) -> bool:
        if record.levelno == logging.WARNING:
            self.messages.append(f"{self.current}: {record.getMessage()}")
            return False
        return True


def run_phonerec(model, rows: dict[str, dict], refs: dict, align: bool = True, fix_level: bool = False,
                 adapt: int = 0) -> dict:
    """Transcribe (timed) and force-align (untimed) every recording with a phonerec model on one CPU thread
    (`fix_level`: Recognizer.load's, scale recordings far from the training level back to it)."""
    import torch

    from phonerec.api import Recognizer
    from phonerec.features.audio import load_audio
    from phonerec.transcribe import TranscribeError

    torch.set_num_threads(1)
    rec = Recognizer.load(model, device="cpu", fix_level=fix_level)
    n_phones, sr = len(rec.phones), rec.sample_rate
    waves = {u: load_audio(row["wav"], sr) for u, row in rows.items()}
    flagged = Flagged()
    for logger in ("phonerec.transcribe", "phonerec.api", "phonerec.forced_alignment"):
        logging.getLogger(logger).addFilter(flagged)
    try:
        rec.transcribe(next(iter(waves.values())), sr)  # warm-up, not timed
        flagged.messages.clear()
        hyps, cpu, wall = {}, 0.0, 0.0
        for u, wave in waves.items():
            flagged.current = u
            c0, w0 = time.process_time(), time.perf_counter()
            t = rec.transcribe(wave, sr, timestamps=True, batch_size=1)
            cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
            hyps[u] = t.phones
        warnings = list(flagged.messages)
        bounds = forced_boundaries(rec, rows, waves, n_phones, TranscribeError, adapt) if align else None
    finally:
        for logger in ("phonerec.transcribe", "phonerec.api", "phonerec.forced_alignment"):
            logging.getLogger(logger).removeFilter(flagged)
    if warnings:
        log.warning("phonerec flagged %d of %d recording(s) while transcribing, e.g. %s", len(warnings), len(rows),
                    warnings[0])
    merge = not has_closures(refs)
    scored = {u: merge_closures(h) for u, h in hyps.items()} if merge else hyps
    name = f"phonerec ({model}{', fix_level' if fix_level else ''})"
    out = {"system": name, "phone_set": n_phones, "closures_merged": merge,
           "scores": {c: s.as_dict() for c, s in score_all(refs, scored).items()},
           "speed": speed(cpu, wall, sum(len(w) for w in waves.values()) / sr),
           "recording_warnings": {"count": len(warnings), "examples": warnings[:5]},
           "hyps": {u: " ".join(fold(h, 39)) for u, h in scored.items()}}
    if bounds is not None:
        out["boundaries"] = bounds
    return out


def forced_boundaries(rec, rows: dict, waves: dict, n_phones: int, error=ValueError, adapt: int = 0) -> dict:
    """Boundary accuracy of the reference phones forced-aligned by the model, one recording at a time: all
    internal boundaries, those before a stop or affricate, and the others (boundaries.forced_row_errors,
    boundary_metric). With `adapt` rounds, also ("refined") the same recordings aligned together and refined
    on themselves (phonerec.corpus_alignment, what `phonerec align` does with a corpus)."""
    aligned, failed = {}, {}
    for u, row in rows.items():
        try:
            aligned[u] = rec.align(waves[u], rec.sample_rate, phones=row["phn"].split()).segments
        except (error, ValueError) as e:
            failed[u] = str(e)
    if failed:
        log.warning("%d recording(s) could not be aligned, e.g. %s", len(failed), next(iter(failed.values())))
    out = {**boundary_figures(rows, aligned, n_phones, failed), "failed": failed, "rule": boundaries.BOUNDARY_RULE,
           "phone_set": n_phones}
    ok = [u for u in aligned if u not in failed]
    if adapt and ok:
        from phonerec.corpus_alignment import align_corpus

        refined = align_corpus(rec, [waves[u] for u in ok], rec.sample_rate,
                               phones=[rows[u]["phn"].split() for u in ok], adapt=adapt)
        out["refined"] = {**boundary_figures(rows, {u: t.segments for u, t in zip(ok, refined)}, n_phones, {}),
                          "rounds": adapt}
    return out


def boundary_figures(rows: dict, segments: dict, n_phones: int, failed: dict) -> dict:
    """{all, before_stop, other} boundary_metric of each recording's aligned `segments` against its reference; a
    recording whose segments cannot be paired with it goes to `failed` (utt -> why)."""
    every, before_stop, other = [], [], []
    for u, segs in segments.items():
        try:
            errors = boundaries.forced_row_errors(rows[u], segs, n_phones)
        except ValueError as e:
            failed[u] = str(e)
            continue
        ref = merge_segments(reference_segments(rows[u]), n_phones)
        for k, e in enumerate(errors):
            every.append(e)
            (before_stop if ref[k + 1][2] in RELEASES else other).append(e)
    return {"all": boundaries.boundary_metric(every), "before_stop": boundaries.boundary_metric(before_stop),
            "other": boundaries.boundary_metric(other)}


# ------------------------------------------------------------------------------------------------ table

def format_table(result: dict) -> str:
    """The console report: one row per system (PERs, RTF), then phonerec's forced-alignment boundaries."""
    c = result["corpus"]
    lines = [f"Peer benchmark on {c['root']} (TEST: {c['utterances']} utterances, {c['speakers']} speaker(s), "
             f"{c['audio_s'] / 60:.1f} min)", ""]
    head = f"{'system':<40} {'PER sil_optional':>16} {'PER without sil':>15} {'RTF cpu':>8} {'RTF wall':>8}"
    lines += [head, "-" * len(head)]
    for s in result["systems"]:
        sc, sp = s["scores"], s["speed"]
        lines.append(f"{s['system']:<40} {sc['sil_optional']['per']:>14.2f} % {sc['without_sil']['per']:>13.2f} % "
                     f"{sp['rtf_cpu']:>8.3f} {sp['rtf_wall']:>8.3f}")
    lines.append("")
    lines.append("PER on the 39 folded phones (phonerec.evaluation.per); without sil: sil removed from reference and "
                 "hypothesis; RTF: decoding time / audio on one CPU thread.")
    for s in result["systems"]:
        if s.get("closures_merged"):
            lines.append(f"{s['system']}: closures merged into the following stop (the references have none).")
        b = s.get("boundaries")
        if b:
            def fmt(m):
                pct = "n/a" if m["within_20ms_pct"] is None else f"{m['within_20ms_pct']:.1f} %"
                return f"{pct} within {TOLERANCE_MS} ms, mean |dev| {m['mean_abs_ms']} ms ({m['n_boundaries']} boundaries)"
            lines += [f"{s['system']} forced alignment of the reference phones:",
                      f"  all boundaries:             {fmt(b['all'])}",
                      f"  before a stop or affricate: {fmt(b['before_stop'])}",
                      f"  other boundaries:           {fmt(b['other'])}"]
            if b["failed"]:
                lines.append(f"  {len(b['failed'])} recording(s) not aligned (left out)")
            r = b.get("refined")
            if r:
                lines += [f"  the same recordings aligned together, refined on themselves ({r['rounds']} rounds, "
                          "phonerec align's corpus mode):",
                          f"  all boundaries:             {fmt(r['all'])}",
                          f"  before a stop or affricate: {fmt(r['before_stop'])}",
                          f"  other boundaries:           {fmt(r['other'])}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timit", required=True, help="TIMIT-layout tree; its TEST split is used")
    p.add_argument("--model", help="phonerec experiment folder or model.pt (without it only PocketSphinx runs)")
    p.add_argument("--speakers", help="core | dev | a speaker-list file (default: every TEST speaker)")
    p.add_argument("--keep-sa", action="store_true", help="keep the SA sentences")
    p.add_argument("--limit", type=int, help="only the first N utterances (by utt_id), for a quick check")
    p.add_argument("--json", help="write every figure (and both systems' folded hypotheses) here")
    p.add_argument("--peer-python", default=str(PEER_VENV / "bin" / "python"),
                   help="python of the PocketSphinx environment (default: .venv-peer/bin/python)")
    p.add_argument("--setup-peer", action="store_true", help=f"create .venv-peer with {PEER_PACKAGE} first")
    p.add_argument("--peer-cache", help="PocketSphinx's raw output: reused when it covers every utterance, else written")
    p.add_argument("--no-pocketsphinx", action="store_true", help="run phonerec only")
    p.add_argument("--no-align", action="store_true", help="skip phonerec's forced-alignment boundaries")
    p.add_argument("--adapt", type=int, default=6, metavar="ROUNDS",
                   help="also align the recordings together, refined on themselves for ROUNDS rounds "
                        "(phonerec.corpus_alignment; default 6, its ADAPT_ITERATIONS; 0: skip)")
    p.add_argument("--fix-level", action="store_true",
                   help="phonerec scales recordings far quieter or louder than its training corpus back to its level")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    rows = load_test_split(a.timit, a.speakers, a.keep_sa, a.limit)
    refs = {u: row["phn"].split() for u, row in rows.items()}
    result = {"corpus": {"root": str(a.timit), "utterances": len(rows),
                         "speakers": len({r["spk_id"] for r in rows.values()}),
                         "audio_s": round(sum(r["duration"] for r in rows.values()), 3),
                         "reference_closures": has_closures(refs)},
              "conventions": {"sil_optional": "phonerec.evaluation.per sil_optional",
                              "without_sil": "sil removed from reference and hypothesis after folding to 39, "
                                             "then phonerec.evaluation.per sil_merged",
                              "sil_merged": "phonerec.evaluation.per sil_merged"},
              "systems": []}
    if not a.no_pocketsphinx:
        python = setup_peer() if a.setup_peer else Path(a.peer_python)
        doc = run_pocketsphinx(rows, python, Path(a.peer_cache) if a.peer_cache else None)
        result["systems"].append(pocketsphinx_result(rows, refs, doc))
    if a.model:
        result["systems"].append(run_phonerec(a.model, rows, refs, align=not a.no_align, fix_level=a.fix_level,
                                                    adapt=a.adapt))
    if not result["systems"]:
        raise SystemExit("nothing to run: give --model, or leave out --no-pocketsphinx")
    print(format_table(result), end="")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
