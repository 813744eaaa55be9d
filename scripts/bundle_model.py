#!/usr/bin/env python3
"""Put a trained model into the package as phonerec's bundled English model, with its card.

  python scripts/bundle_model.py --exp recipes/english/exp/crdnn_cpu --data recipes/english/data \
      --figures LJSpeech=peer_ljspeech.json [--out src/phonerec/resources/english]

Writes exp/model.pt into the package with its floating-point weights stored as float16 (`--weights
float16`, the default: 3.9 MB instead of 7.8; they are loaded into the float32 model, and the figures moved by
0.02 PER points on the LJSpeech set, recipes/english/README.md), or as trained (`--weights float32`), and
writes card.json beside it: the data with licences and attribution (the sources.json of the combined
data folder), the resolved config, the command that retrains it, the training time read off the
experiment's logs, the commit, the figures of scripts/peer_benchmark.py --json on speech the model never
heard, and the model file's sha256 (tests/test_bundled.py checks it).
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from phonerec.fileio import torch_save, write_json
from phonerec.inference.bundled import BUNDLED_DIR, CARD_NAME, MODEL_NAME, sha256_of
from phonerec.records import digest
from phonerec.training import checkpoint

CORPORA = {  # what the card says of each source corpus
    "so762": {"corpus": "speechocean762 (OpenSLR 101)", "licence": "CC BY 4.0",
              "attribution": "Zhang et al., speechocean762: an open-source non-native English speech corpus for "
                             "pronunciation assessment, Interspeech 2021",
              "speakers": "250 Mandarin-L1 speakers, children and adults, reading"},
    "libri": {"corpus": "LibriSpeech train-clean-100, speakers 4088 4406 5652 8226 (OpenSLR 12)",
              "licence": "CC BY 4.0",
              "attribution": "Panayotov et al., LibriSpeech: an ASR corpus based on public domain audio books, "
                             "ICASSP 2015",
              "speakers": "4 native US English readers (LibriVox)"},
}
SYNTH = {"corpus": "synthesized native US English with the synthesizer's own phone times "
                   "(recipes/english/local/synthesize.py)",
         "licence": "made here with Debian main packages under free licences (festival 2.5 with festvox-kallpc16k and "
                    "festvox-us-slt-hts, flite 2.2's libflite1 voices; each package's /usr/share/doc/*/copyright); "
                    "the texts are LibriSpeech's transcripts (CC BY 4.0)",
         "attribution": "festival (CSTR, University of Edinburgh), flite and CMU ARCTIC (Carnegie Mellon University), "
                        "HTS (Nagoya Institute of Technology)",
         "speakers": "4 voices: festival kal_diphone and cmu_us_slt_arctic_hts, flite cmu_us_rms and cmu_us_slt"}
COMMAND = ("cd recipes/english && ./run.sh --speechocean762 /path/to/speechocean762 "
           "--librispeech /path/to/LibriSpeech-sample  (then scripts/bundle_model.py, as in its README)")


def training_minutes(exp: Path) -> float:
    """Wall time of stage 3's training runs (round 0, the head model, the exact-times round): in each of the
    experiment's train logs, from the first to the last line of the run that wrote its model.pt. A log that a
    later run of the recipe appended to keeps the earlier runs above it; they, and the hours between, do not
    count. (A day boundary inside one run is not handled.)"""
    total, found = 0, False
    for log in sorted(exp.rglob("train.log")):
        runs, after_weights = [], False  # [stamps (s), wrote its model.pt] of each run in the log
        for line in log.read_text().splitlines():
            m = re.match(r"(\d\d):(\d\d):(\d\d) ", line)
            if not m:
                continue
            weights = "phonerec.experiment.train: weights from " in line  # a run's first line when it starts from a model
            if not runs or weights or ("phonerec.experiment.train: model " in line and not after_weights):
                runs.append([[], False])
            runs[-1][0].append(int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]))
            runs[-1][1] = runs[-1][1] or bool(re.search(r"wrote \S*model\.pt", line))
            after_weights = weights
        done = [stamps for stamps, wrote in runs if wrote]
        if done:
            total, found = total + max(done[-1]) - min(done[-1]), True
    return round(total / 60, 1) if found else float("nan")


def start_model_speeds(exp: Path) -> list[float] | None:
    """The speed copies of the model `exp` continued (train.init_from: the recipe's real-speech model), read from
    that file only when it is still the one the recipe's stage record says it read (None when unknown)."""
    record = exp / ".stage.json"
    start = json.loads(record.read_text())["inputs"].get("start model") if record.is_file() else None
    if not start or not Path(start["path"]).is_file() or digest(Path(start["path"])) != start["digest"]:
        return None
    return list(checkpoint.load(start["path"])["config"].get("features", {}).get("speed_perturb", [1.0]))


def half_weights(weights: dict) -> dict:
    """The state dict with its floating-point tensors as float16 (integer buffers as they are)."""
    return {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", required=True, help="experiment folder with model.pt")
    p.add_argument("--data", required=True, help="the combined data folder it trained on (manifests/sources.json)")
    p.add_argument("--figures", nargs="*", action="extend", default=[], help="peer_benchmark.py --json outputs: NAME=FILE (a short "
                   "NAME: it labels every figure on the page)")
    p.add_argument("--figures-on", nargs="*", action="extend", default=[], help="NAME=what that set is, for the card")
    p.add_argument("--out", default=str(BUNDLED_DIR))
    p.add_argument("--note", default="", help="anything the card must say about how this copy was trained")
    p.add_argument("--weights", choices=("float16", "float32"), default="float16",
                   help="how the weights are stored (they are computed in float32 either way)")
    a = p.parse_args(argv)
    exp, data, out = Path(a.exp), Path(a.data), Path(a.out)
    state = checkpoint.load(exp / "model.pt")
    manifests = {s: json.loads((data / "manifests" / f"{s}.json").read_text()) for s in ("train", "dev")}
    sources = json.loads((data / "manifests" / "sources.json").read_text())
    hours = {s: round(sum(r["duration"] for r in rows.values()) / 3600, 2) for s, rows in manifests.items()}
    # the recipe's exact-times round (--synth true): on the card only when the model trained on data/exact
    synth_rows, exact = data / "synth" / "manifests" / "train.json", data / "exact" / "manifests" / "train.json"
    trained = ((state.get("trained_on") or {}).get("train") or {}).get("digest")
    synth = (json.loads(synth_rows.read_text()) if synth_rows.is_file() and exact.is_file() and digest(exact) == trained
             else None)
    exact_sources = exact.parent / "sources.json"
    real_untimed = synth is not None and exact_sources.is_file() and any(  # prepare --combine --drop-times
        isinstance(v, dict) and v.get("phone_times") == "dropped" for v in json.loads(exact_sources.read_text()).values())
    speeds = list(state["config"].get("features", {}).get("speed_perturb", [1.0]))  # copies made at caching time
    real_speeds = speeds if synth is None else start_model_speeds(exp)  # the real speech's last round
    figures = {}
    for spec in a.figures:
        name, _, path = spec.partition("=")
        for system in json.loads(Path(path).read_text())["systems"]:
            who = "PocketSphinx allphone" if system["system"].startswith("PocketSphinx") else "this model"
            sc = system["scores"]
            figures[f"{name}, {who}: PER sil_optional / without sil"] = \
                f"{sc['sil_optional']['per']:.2f} % / {sc['without_sil']['per']:.2f} %"
            figures[f"{name}, {who}: real-time factor (1 thread)"] = f"{system['speed']['rtf_cpu']:.3f}"
            if system.get("boundaries"):
                b = system["boundaries"]["all"]
                figures[f"{name}, {who}: boundaries within 20 ms of MFA (mean)"] = \
                    f"{b['within_20ms_pct']:.1f} % ({b['mean_abs_ms']} ms)"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out.mkdir(parents=True, exist_ok=True)
    if a.weights == "float32":
        shutil.copyfile(exp / "model.pt", out / MODEL_NAME)
    else:
        torch_save({**state, "model": half_weights(state["model"])}, out / MODEL_NAME)
    decoding = state.get("decoding") or {}
    real = ", ".join(f"{n} {' + '.join(x.split(':')[1] for x in sources['plan']['train'] if x.startswith(n + ':'))}"
                     for n in ("so762", "libri"))
    if real_speeds not in (None, [1.0]):
        real += f" (its last round on copies at speeds {', '.join(map(str, real_speeds))})"
    trained_on = (f"{len(manifests['train'])} utterances, {hours['train']} h: {real}; "
                  f"dev {len(manifests['dev'])} utterances, {hours['dev']} h")
    if synth:
        trained_on += (f"; then {len(synth)} synthesized utterances, "
                       f"{sum(r['duration'] for r in synth.values()) / 3600:.2f} h, with them (the exact-times round"
                       + (f", each utterance at speeds {', '.join(map(str, speeds))}" if speeds != [1.0] else "")
                       + (": the frame head learns from their exact times alone, CTC from all" if real_untimed else "")
                       + ")")
    card = {
        "name": "phonerec English (speechocean762 + LibriSpeech sample" + (" + synthesized speech)" if synth else ")"),
        "description": "CRDNN with a frame head (48 TIMIT phones, 10 ms boundaries), CTC; beam search with a "
                       "phone bigram tuned on dev. Trained on open read English speech, native and not.",
        "trained_on": trained_on,
        "data": [{**CORPORA[n], "splits used for training": [x for x in sources["plan"]["train"] if x.startswith(n)]}
                 for n in ("so762", "libri")] + ([{**SYNTH, "splits used for training": ["synth:train"]}] if synth else []),
        "licence": "the weights are derived from CC BY 4.0 corpora" + (" and speech synthesized with free software "
                   "and voices" if synth else "") + ": credit them as in 'data'",
        "config": state["config"],
        "source": state.get("source"),
        "decoding": {**decoding.get("decode", {}), "tuned_on": decoding.get("tuned_on")},
        "command": COMMAND,
        "training_minutes": training_minutes(exp),
        "training_note": a.note,
        "bundled": datetime.date.today().isoformat(),
        "commit": commit,
        "figures": figures,
        "figures_on": dict(spec.partition("=")[::2] for spec in a.figures_on),
        "weights": f"stored as {a.weights}, computed in float32",
        "sha256": sha256_of(out / MODEL_NAME),
        "size_bytes": (out / MODEL_NAME).stat().st_size,
    }
    write_json(out / CARD_NAME, card)
    print(f"{out / MODEL_NAME}: {card['size_bytes'] / 1e6:.1f} MB, sha256 {card['sha256'][:16]}...; card {out / CARD_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
