"""End to end: run.sh on a tiny synthetic corpus; kill -9 during training and resume."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from phonerec.phones import fold

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "timit"
TINY = ["model.name=lstm", "model.lstm_hidden=32", "model.lstm_layers=1", "model.time_strides=[2]",
        "train.epochs=3", "train.warmup_steps=5", "train.lr=3e-3", "data.max_frames=6000"]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("conf") / "tiny.yaml"
    lines = {}
    for item in TINY:
        key, value = item.split("=")
        section, name = key.split(".")
        lines.setdefault(section, []).append(f"  {name}: {value}")
    path.write_text("".join(f"{s}:\n" + "\n".join(v) + "\n" for s, v in lines.items()))
    return path


def _levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


@pytest.fixture(scope="module")
def recipe_run(timit_tree, tiny_config, tmp_path_factory):
    work = tmp_path_factory.mktemp("recipe")
    env = {**os.environ, "PYTHON": sys.executable}
    cmd = ["bash", str(RECIPE / "run.sh"), "--timit", str(timit_tree), "--config", str(tiny_config),
           "--data", str(work / "data"), "--exp", str(work / "exp")]
    out = subprocess.run(cmd, cwd=RECIPE, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work, out, cmd, env


def test_recipe_end_to_end_outputs_are_consistent(recipe_run):
    work, out, _, _ = recipe_run
    exp = work / "exp"
    assert "dev PER" in out.stdout and "test PER" in out.stdout
    for split in ("dev", "test"):
        per = json.loads((exp / f"decode_{split}" / "per.json").read_text())
        assert set(per) == {"per", "sub", "del", "ins", "n_ref", "n_utts"}
        manifest = json.loads((work / "data" / "manifests" / f"{split}.json").read_text())
        hyps = {}
        for line in (exp / f"decode_{split}" / "hyp.txt").read_text().splitlines():
            utt, *phones = line.split()
            hyps[utt] = phones
        assert set(hyps) == set(manifest) and per["n_utts"] == len(manifest)
        # independent re-scoring: own edit distance on the 39-phone folding
        errors = n_ref = 0
        for utt, row in manifest.items():
            ref, hyp = fold(row["phn"].split(), 39), fold(hyps[utt], 39)
            errors += _levenshtein(ref, hyp)
            n_ref += len(ref)
        assert per["n_ref"] == n_ref
        assert per["sub"] + per["del"] + per["ins"] == errors
        assert per["per"] == pytest.approx(100 * errors / n_ref, abs=0.01)
    history = json.loads((exp / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_finished_stages_are_skipped(recipe_run):
    work, _, cmd, env = recipe_run
    out = subprocess.run(cmd + ["--stage", "1", "--stop-stage", "3"], cwd=RECIPE, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0
    assert out.stdout.count("up to date, skipped") == 3, out.stdout


def test_stages_rerun_when_their_inputs_change(recipe_run, tmp_path):
    """Another corpus option makes prepare rerun, and features and training follow; then all is up to date."""
    work, _, cmd, env = recipe_run
    for d in ("data", "exp"):
        shutil.copytree(work / d, tmp_path / d)
    cmd = [c.replace(str(work), str(tmp_path)) for c in cmd] + ["--stop-stage", "3"]

    def run(*extra):
        out = subprocess.run(cmd + list(extra), cwd=RECIPE, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return out.stdout

    assert run().count("up to date, skipped") == 3
    stdout = run("--test-set", "full")
    assert "stage 1: prepare" in stdout and "stage 2: features" in stdout and "stage 3: train" in stdout, stdout
    assert run("--test-set", "full").count("up to date, skipped") == 3
    bad = subprocess.run(cmd + ["--decode", "beem"], cwd=RECIPE, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "--decode must be greedy or beam" in bad.stderr


def test_decode_stage_reruns_when_the_method_changes(recipe_run, tmp_path):
    work, _, cmd, env = recipe_run
    exp = tmp_path / "exp"
    shutil.copytree(work / "exp", exp)  # copy2 keeps mtimes: hyp.txt stays newer than model.pt
    cmd = [c if c != str(work / "exp") else str(exp) for c in cmd] + ["--stage", "4", "--stop-stage", "4"]

    def stage4(*extra):
        out = subprocess.run(cmd + list(extra), cwd=RECIPE, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return out.stdout, json.loads((exp / "decode_test" / "decode.json").read_text())

    stdout, info = stage4()
    assert "up to date, skipped" in stdout and info["method"] == "greedy"
    data = cmd[cmd.index("--data") + 1]
    subprocess.run([sys.executable, str(REPO / "scripts" / "decode.py"), "--exp", str(exp), "--data", data,
                    "--splits", "dev", "test", "--method", "beam"], check=True, capture_output=True)
    stdout, info = stage4("--decode", "beam")  # an untuned beam decode is not what --decode beam asks for
    assert "stage 4: decode" in stdout and info["method"] == "beam" and info["tuned_on"] == "dev"
    stdout, info = stage4("--decode", "beam")
    assert "up to date, skipped" in stdout and info["method"] == "beam"


def test_kill_during_training_then_resume_matches_straight_run(recipe_run, tiny_config, tmp_path):
    work, _, _, _ = recipe_run
    data = work / "data"
    train = [sys.executable, str(REPO / "scripts" / "train.py"), "--config", str(tiny_config), "--data", str(data),
             "--device", "cpu", "--set", "train.epochs=4"]
    straight = subprocess.run(train + ["--exp", str(tmp_path / "straight")], capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]

    exp = tmp_path / "killed"
    proc = subprocess.Popen(train + ["--exp", str(exp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (exp / "checkpoints" / "epoch-2.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # now inside epoch 3 (or writing its checkpoint)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (exp / "model.pt").exists()  # it did not finish
    resumed = subprocess.run(train + ["--exp", str(exp), "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=False)
    b = torch.load(exp / "checkpoints" / "last.pt", weights_only=False)
    assert a["trainer"]["epoch"] == b["trainer"]["epoch"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_corrupt_checkpoint_gives_one_line_error(recipe_run, tmp_path):
    work, _, _, _ = recipe_run
    exp = tmp_path / "bad"
    exp.mkdir()
    (exp / "model.pt").write_bytes(b"not a checkpoint")
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "decode.py"), "--exp", str(exp), "--data",
                          str(work / "data")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    errors = [ln for ln in out.stderr.splitlines() if "ERROR" in ln]
    assert len(errors) == 1 and "model.pt: not a readable checkpoint" in errors[0]
    assert "Traceback" not in out.stderr


def test_torchrun_two_processes_train(recipe_run, tiny_config, tmp_path):
    work, _, _, _ = recipe_run
    exp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "scripts" / "train.py"), "--config", str(tiny_config), "--data", str(work / "data"),
           "--exp", str(exp), "--device", "cpu", "--set", "train.epochs=1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 process(es)" in out.stderr
    assert (exp / "model.pt").is_file() and len(json.loads((exp / "history.json").read_text())) == 1
