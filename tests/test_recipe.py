"""End to end: run.sh on a tiny synthetic corpus; kill -9 during training and resume."""
import json
import os
import shutil
import signal
import subprocess
import sys
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
    assert "dev PER" in out.stdout and "test PER" in out.stdout and "[sil_merged]" in out.stdout
    for split in ("dev", "test"):
        per = json.loads((exp / f"decode_{split}" / "per.json").read_text())
        assert per["convention"] == "sil_merged" and per["sil_optional"]["convention"] == "sil_optional"
        assert per["sil_optional"]["n_utts"] == per["n_utts"] and per["utterances"]["utterances"] == per["n_utts"]
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


# scripts/train.py, run with a hook that SIGKILLs the process at a known point of epoch 3:
# "step": right after the first optimizer step of epoch 3 (mid-epoch, the model has moved on from
# the last checkpoint); "save": halfway through writing epoch 3's last.pt (half its bytes on disk:
# a non-atomic save would leave a truncated last.pt). Before dying it writes where it was to a file.
KILL_HOOK = """
import io, json, os, runpy, signal, sys
import torch
from phonerec.training.trainer import Trainer

where, marker = sys.argv[1], sys.argv[2]
KILL_EPOCH = 3


def die(**info):
    with open(marker, "w") as f:
        json.dump(info, f)
    os.kill(os.getpid(), signal.SIGKILL)


step = Trainer.train_step


def train_step(self, batch, total_steps):
    out = step(self, batch, total_steps)
    if where == "step" and self.state.epoch == KILL_EPOCH - 1:
        die(where=where, epochs_done=self.state.epoch, step=self.state.step)
    return out


save = torch.save


def half_save(obj, f, *args, **kwargs):
    epoch = obj.get("trainer", {}).get("epoch") if isinstance(obj, dict) else None
    path = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "")  # a path, or an open file
    name = os.path.basename(str(path))
    if where == "save" and epoch == KILL_EPOCH and "last.pt" in name:  # last.pt or its temporary
        buf = io.BytesIO()
        save(obj, buf, *args, **kwargs)
        out = open(f, "wb") if isinstance(f, (str, os.PathLike)) else f
        out.write(buf.getvalue()[: buf.tell() // 2])
        out.flush()
        os.fsync(out.fileno())
        die(where=where, epochs_done=epoch, file=name)
    return save(obj, f, *args, **kwargs)


Trainer.train_step, torch.save = train_step, half_save
sys.argv = sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def straight_run(recipe_run, tiny_config, tmp_path_factory):
    work, _, _, _ = recipe_run
    train = [sys.executable, str(REPO / "scripts" / "train.py"), "--config", str(tiny_config),
             "--data", str(work / "data"), "--device", "cpu", "--set", "train.epochs=4"]
    exp = tmp_path_factory.mktemp("straight")
    out = subprocess.run(train + ["--exp", str(exp)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return train, torch.load(exp / "checkpoints" / "last.pt", weights_only=False)


@pytest.mark.parametrize("where", ["step", "save"])
def test_kill_during_training_then_resume_matches_straight_run(straight_run, tmp_path, where):
    train, final = straight_run
    steps_per_epoch = final["trainer"]["step"] // 4
    assert steps_per_epoch >= 2  # so that "after the first step" is inside the epoch

    exp, marker = tmp_path / "killed", tmp_path / "kill_point.json"
    (tmp_path / "kill_hook.py").write_text(KILL_HOOK)
    killed = subprocess.run([sys.executable, str(tmp_path / "kill_hook.py"), where, str(marker)] + train[1:]
                            + ["--exp", str(exp)], capture_output=True, text=True, timeout=300)
    # it really was killed where we meant, and left no finished model behind
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    point = json.loads(marker.read_text())
    assert point["where"] == where and point["epochs_done"] == (2 if where == "step" else 3)
    if where == "step":
        assert point["step"] == 2 * steps_per_epoch + 1
    assert not (exp / "model.pt").exists() and not (exp / "history.json").exists()
    last = torch.load(exp / "checkpoints" / "last.pt", weights_only=False)  # a truncated last.pt fails here
    assert last["trainer"]["epoch"] == 2  # the last complete checkpoint is epoch 2's
    assert any(not torch.equal(last["model"][k], final["model"][k]) for k in final["model"])

    resumed = subprocess.run(train + ["--exp", str(exp), "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr and "after epoch 2" in resumed.stderr
    b = torch.load(exp / "checkpoints" / "last.pt", weights_only=False)
    assert b["trainer"]["epoch"] == final["trainer"]["epoch"] == 4
    assert b["trainer"]["step"] == final["trainer"]["step"]
    for k in final["model"]:
        assert torch.equal(final["model"][k], b["model"][k]), k
    assert (exp / "model.pt").is_file()


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
    # each process logs to its own file; rank 0's is train.log
    assert "epoch 1" in (exp / "log" / "train.log").read_text() and (exp / "log" / "train.rank1.log").is_file()


def test_changed_config_retrains_and_resume_refuses_another_config(recipe_run, tmp_path):
    """A model trained with another config is not up to date; --resume names the keys that differ."""
    work, _, cmd, env = recipe_run
    shutil.copytree(work / "exp", tmp_path / "exp")
    config = Path(cmd[cmd.index("--config") + 1])
    changed = tmp_path / "changed.yaml"
    changed.write_text(config.read_text().replace("lr: 3e-3", "lr: 2e-3") + "decode:\n  beam: 4\n")
    cmd = [c.replace(str(work / "exp"), str(tmp_path / "exp")) for c in cmd] + ["--stage", "3", "--stop-stage", "3"]

    def run(config_file, *extra):
        args = cmd[:cmd.index("--config") + 1] + [str(config_file)] + cmd[cmd.index("--config") + 2:]
        return subprocess.run(args + list(extra), cwd=RECIPE, env=env, capture_output=True, text=True, timeout=300)

    out = run(changed)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (why,) = [line for line in out.stdout.splitlines() if "stage 3: train" in line]
    assert why.endswith("(changed: train.lr 0.003 -> 0.002)")  # the record names what changed, and decode.beam never retrains
    assert "up to date, skipped" in run(changed).stdout
    refused = run(config, "--resume", "true")
    assert refused.returncode != 0
    assert "cannot resume" in refused.stderr and "train.lr 0.002 -> 0.003" in refused.stderr, refused.stderr


@pytest.mark.parametrize("recipe", ["timit", "speechocean762", "librispeech", "english"])
def test_help_prints_the_header_from_any_folder(recipe):
    script = REPO / "recipes" / recipe / "run.sh"
    out = subprocess.run(["bash", str(script.relative_to(REPO)), "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    header = [line for line in script.read_text().splitlines()[1:] if line.startswith("#")]
    assert out.stdout.splitlines() == header[: len(out.stdout.splitlines())] and len(out.stdout.splitlines()) >= 5
    assert "set -euo" not in out.stdout and "Paths are relative" in out.stdout
