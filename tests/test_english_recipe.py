"""recipes/english/run.sh end to end on generated corpora (the speechocean762 fixture, the LibriSpeech fixture,
and a few sentences from each synthesizer voice): the recipe that makes the bundled model, its real-speech rounds,
its exact-times round (the real speech's times dropped, the synthesized speech's kept), decoding and the stage
records that skip what is up to date."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from phonerec.corpora.synthetic import plan_corpus
from phonerec.training import checkpoint
from test_librispeech import TRAIN_SPK, write_subset
from test_relabel import TINY
from test_speechocean762 import write_corpus as write_so762
from test_synthesize import needs_synthesizers

REPO = Path(__file__).resolve().parents[1]
PER_VOICE = 1


def _corpora(tmp_path: Path) -> tuple[Path, Path]:
    so762 = write_so762(tmp_path / "speechocean762")
    rng = np.random.default_rng(0)
    for wav in so762.rglob("*.WAV"):  # 1.5 s of noise instead of the fixture's 0.1 s of silence: long enough for CTC
        sf.write(wav, (rng.standard_normal(24000) * 3000).astype(np.int16), 16000, subtype="PCM_16", format="WAV")
    libri = tmp_path / "libri" / "audio"
    write_subset(libri, [s for s in plan_corpus(0, 1) if s.split == "TRAIN"][:4], TRAIN_SPK)
    return so762, libri


@needs_synthesizers
def test_english_recipe_trains_real_rounds_then_the_exact_times_round_and_skips_what_is_done(tmp_path):
    so762, libri = _corpora(tmp_path)
    conf = tmp_path / "tiny.yaml"
    conf.write_text(TINY.replace("epochs: 2", "epochs: 1"))
    data, exp = tmp_path / "data", tmp_path / "exp"
    recipe = REPO / "recipes" / "english"
    cmd = ["bash", str(recipe / "run.sh"), "--speechocean762", str(so762), "--librispeech", str(libri),
           "--config", str(conf), "--data", str(data), "--exp", str(exp), "--round0-epochs", "1",
           "--refine-iterations", "0", "--decode", "greedy", "--exact-epochs", "1", "--round-epochs", "1",
           "--synth-per-voice", str(PER_VOICE)]
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    # the synthesized corpus: 4 voices, --synth-per-voice each, read from transcripts other than the dev speaker's
    synth = json.loads((data / "synth" / "manifests" / "train.json").read_text())
    assert len(synth) == 4 * PER_VOICE and all(r["ground_truth_phn_ends"] for r in synth.values())
    dev = json.loads((data / "libri" / "manifests" / "dev.json").read_text())
    assert f"but speakers {' '.join(sorted({r['spk_id'] for r in dev.values()}))})" in out.stdout

    # the exact-times round: real rows keep their phones without times, synthesized rows keep their times
    train = json.loads((data / "exact" / "manifests" / "train.json").read_text())
    aligned = json.loads((data / "aligned1" / "manifests" / "train.json").read_text())
    timed = {u for u, r in train.items() if r.get("ground_truth_phn_ends")}
    assert len(train) == len(aligned) + len(synth) and len(timed) == len(synth) and set(aligned) == set(train) - timed
    assert all(r["ground_truth_phn_ends"] for r in aligned.values())  # the round's times, dropped below
    assert all(train[u] == {k: v for k, v in r.items() if k != "ground_truth_phn_ends"} for u, r in aligned.items())
    synth_ends = json.loads((data / "synth_closures" / "manifests" / "train.json").read_text())
    assert {u: train[u]["ground_truth_phn_ends"] for u in timed} == \
        {u: r["ground_truth_phn_ends"] for u, r in synth_ends.items()}
    sources = json.loads((data / "exact" / "manifests" / "sources.json").read_text())
    assert sources["real"]["phone_times"] == "dropped" and "phone_times" not in sources["synth"]
    log = (exp / "log" / "train.log").read_text()  # with its speed-perturbed copies (0.9, 1.0, 1.1)
    assert f"train: {3 * len(synth)} of {3 * len(train)} utterances have phone times" in log

    # the final model continues the real-speech model, with the head; stages 4-5 decode it
    final, real = checkpoint.load(exp / "model.pt"), checkpoint.load(exp / "real" / "model.pt")
    assert final["config"]["train"]["init_from"] == str(exp / "real" / "model.pt")
    assert final["config"]["train"]["epochs"] == 1 and final["config"]["train"]["frame_weight"] == 0.5
    assert final["config"]["features"]["speed_perturb"] == [0.9, 1.0, 1.1]
    # the real-speech head round trained on speed-perturbed copies of the aligned speech, its times scaled
    assert real["config"]["features"]["speed_perturb"] == [0.9, 1.0, 1.1] and real["config"]["train"]["epochs"] == 1
    assert f"train: {3 * len(aligned)} utterances (" in (exp / "real" / "log" / "train.log").read_text()
    assert (data / "aligned1" / "speeds" / "manifests").resolve() == (data / "aligned1" / "manifests").resolve()
    assert real["config"]["train"]["init_from"] == str(exp / "real" / "round0" / "model.pt")
    per = json.loads((exp / "decode_test" / "per.json").read_text())
    assert per["n_utts"] == len(dev)

    again = subprocess.run(cmd + ["--stop-stage", "3"], cwd=recipe, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert " train " not in again.stdout and "synthesize ->" not in again.stdout
    for done in (f"{data}/synth is up to date", f"{data}/exact is up to date", f"{exp}/model.pt is up to date",
                 f"{exp}/real/model.pt is up to date", f"{data}/aligned1/speeds is up to date"):
        assert done in again.stdout, again.stdout[-3000:]
    assert json.loads((data / "synth" / ".stage.json").read_text())["settings"]["per_voice"] == str(PER_VOICE)

    bad = subprocess.run(cmd + ["--exact-speeds", "0.9 1.1"], cwd=recipe, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "--exact-speeds takes speeds separated by commas" in bad.stderr
    bad = subprocess.run(cmd + ["--round-speeds", "0.9;1.1"], cwd=recipe, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "--round-speeds takes speeds separated by commas" in bad.stderr

    # no speed copies: the head round and the exact-times round are rebuilt, each record naming the changed speeds
    # (a setting missing from a record would leave its stage skipped or unexplained); round 0 is not
    plain = subprocess.run(cmd + ["--stop-stage", "3", "--exact-speeds", "1.0", "--round-speeds", "1.0"], cwd=recipe,
                           env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert f"{exp}/real/round0/model.pt is up to date" in plain.stdout
    speeds_changed = "features.speed_perturb [0.9, 1.0, 1.1] -> [1.0]"
    for stage in (f"on {data}/aligned1 -> {exp}/real (changed: ", f"-> {data}/exact (manifests, features) (changed: ",
                  f"on {data}/exact -> {exp} (changed: "):
        line = next((x for x in plain.stdout.splitlines() if stage in x), "")
        assert speeds_changed in line, (stage, plain.stdout[-3000:])
    for model in (exp / "model.pt", exp / "real" / "model.pt"):
        assert checkpoint.load(model)["config"]["features"]["speed_perturb"] == [1.0]
    assert f"train: {len(synth)} of {len(train)} utterances have phone times" in (exp / "log" / "train.log").read_text()
