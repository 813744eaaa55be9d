"""A stage is up to date exactly when what it read and its settings are unchanged (phonerec.records):
content, not timestamps; and a changed round setting reruns exactly the stages downstream of it."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from test_relabel import TINY
from test_speechocean762 import write_corpus

from phonerec.commands import stage as stage_command
from phonerec.records import RECORD_NAME, changes, digest, write_record

REPO = Path(__file__).resolve().parents[1]


def test_a_digest_is_the_content_and_touch_changes_nothing(tmp_path):
    f = tmp_path / "train.json"
    f.write_text('{"a": 1}')
    before = digest(f)
    os.utime(f, (time.time() + 100, time.time() + 100))
    assert digest(f) == before
    f.write_text('{"a": 2}')
    assert digest(f) != before
    assert digest(tmp_path / "absent") is None


def test_a_folder_is_known_by_its_stage_record_else_by_its_files(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "TRAIN").mkdir(parents=True)
    (corpus / "TRAIN" / "SA1.PHN").write_text("0 100 h#\n")
    cache = {}
    tree = digest(corpus, cache)
    assert digest(corpus, cache) == tree and len(cache) == 1
    (corpus / "TRAIN" / "SA1.PHN").write_text("0 100 sil\n")  # the same size, another content
    assert digest(corpus, cache) != tree  # a label's content counts, cache or not
    os.utime(corpus / "TRAIN" / "SA1.PHN", (time.time() + 100, time.time() + 100))
    assert digest(corpus, cache) == digest(corpus)  # touched: read again, the same digest
    feats = tmp_path / "fbank"
    feats.mkdir()
    (feats / "train.pt").write_bytes(b"x" * 100)
    write_record(feats / RECORD_NAME, {"train labels": str(corpus / "TRAIN" / "SA1.PHN")}, {"features.n_mels": "80"})
    known = digest(feats)
    (feats / "train.pt").write_bytes(b"y" * 100)  # a large output is known by what it was made from
    assert digest(feats) == known
    write_record(feats / RECORD_NAME, {"train labels": str(corpus / "TRAIN" / "SA1.PHN")}, {"features.n_mels": "40"})
    assert digest(feats) != known
    link = tmp_path / "aligned1_fbank"
    link.symlink_to(feats, target_is_directory=True)
    assert digest(link) == digest(feats)  # an alignment round's link to the features


def test_changes_name_what_changed(tmp_path):
    labels, model, record = tmp_path / "train.json", tmp_path / "model.pt", tmp_path / "r.json"
    labels.write_text("a")
    model.write_text("m")
    assert changes(record, {"train labels": labels}, {}) == [f"no record of an earlier run ({record})"]
    write_record(record, {"train labels": labels, "start model": model}, {"train.epochs": "4"}, [model])
    assert changes(record, {"train labels": labels, "start model": model}, {"train.epochs": "4"}, [model]) == []
    labels.write_text("b")
    assert changes(record, {"train labels": labels, "start model": model}, {"train.epochs": "6"}, [model]) == \
        [f"train labels {labels} changed", "train.epochs 4 -> 6"]
    model.unlink()
    assert changes(record, {"train labels": labels}, {"train.epochs": "4"}, [model]) == \
        [f"{model} is missing", f"train labels {labels} changed", "start model no longer read"]


def test_stage_command_resolves_the_config_into_settings(tmp_path, capsys):
    conf = tmp_path / "tiny.yaml"
    conf.write_text(TINY)
    labels = tmp_path / "train.json"
    labels.write_text("{}")
    args = ["--record", str(tmp_path / "r.json"), "--input", f"train labels={labels}", "--config", str(conf)]
    assert stage_command.main(["check", *args]) == 1
    assert stage_command.main(["done", *args]) == 0
    capsys.readouterr()
    assert stage_command.main(["check", *args]) == 0 and capsys.readouterr().out == ""
    assert stage_command.main(["check", *args, "--set", "train.epochs=6"]) == 1
    assert capsys.readouterr().out.strip() == "train.epochs 2 -> 6"
    # decoding and worker counts are not training settings
    assert stage_command.main(["check", *args, "--set", "decode.beam=4", "--set", "data.num_workers=2"]) == 0


STAGE_NAMES = {"stage 1": "prepare", "stage 2": "features", "stage 4": "decode", "stage 5": "score"}


def stages_run(stdout: str) -> set[str]:
    """The names of the stages a run.sh log shows running (not skipped)."""
    ran = set()
    for line in stdout.splitlines():
        m = re.search(r"\[run\.sh\] (stage \d: .*)", line)
        if not m or "no phone times" in line:
            continue
        text = m.group(1)
        if text.startswith("stage 3"):  # what it writes: the text after '->', or the path that is up to date
            target = text.split(" (changed: ")[0].rsplit("-> ", 1)[-1].split(" (")[0]
            target = target.replace(" is up to date, skipped", "")
            name = ("relabel" if "aligned1" in target else "round0" if target.rstrip("/").endswith(("round0",
                    "round0/model.pt")) else "final")
        else:
            name = STAGE_NAMES[text[:7]]
        if "up to date, skipped" not in text:
            ran.add(name)
    return ran


def test_a_changed_round_setting_reruns_exactly_what_follows_and_touch_reruns_nothing(tmp_path):
    """The reviewer's case: after a finished run, --refine-iterations 2 relabels and retrains the final model
    and decodes and scores it again (it logged 'model.pt is up to date, skipped' and kept the old report)."""
    root = write_corpus(tmp_path / "speechocean762")
    rng = np.random.default_rng(0)
    for wav in root.rglob("*.WAV"):  # 1.5 s of noise: long enough for CTC
        sf.write(wav, (rng.standard_normal(24000) * 3000).astype(np.int16), 16000, subtype="PCM_16", format="WAV")
    conf = tmp_path / "tiny.yaml"
    conf.write_text(TINY)
    recipe = REPO / "recipes" / "speechocean762"
    data, exp = tmp_path / "data", tmp_path / "exp"
    base = ["bash", str(recipe / "run.sh"), "--corpus", str(root), "--config", str(conf), "--data", str(data),
            "--exp", str(exp), "--round0-epochs", "1", "--decode", "greedy"]
    env = {**os.environ, "PYTHON": sys.executable}

    def run(*extra) -> set[str]:
        out = subprocess.run(base + list(extra), cwd=recipe, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return stages_run(out.stdout), out.stdout

    everything = {"prepare", "features", "round0", "relabel", "final", "decode", "score"}
    assert run("--refine-iterations", "1")[0] == everything
    model = digest(exp / "model.pt")
    assert run("--refine-iterations", "1", "--resume", "true")[0] == set()  # a finished round is not rewritten
    for f in [*tmp_path.rglob("*")]:
        if f.is_file():
            os.utime(f, (time.time() + 60, time.time() + 60))
    assert run("--refine-iterations", "1")[0] == set()
    labels = digest(data / "aligned1" / "manifests" / "train.json")
    ran, log = run("--refine-iterations", "2")
    assert "refine_iterations 1 -> 2" in log and {"relabel"} <= ran <= {"relabel", "final", "decode", "score"}, log
    # the head model reruns exactly when the relabelled train labels changed content, and decoding follows it
    relabelled = digest(data / "aligned1" / "manifests" / "train.json") != labels
    if relabelled:
        assert {"final", "decode", "score"} <= ran, log
    else:
        assert ran == {"relabel"}, log
    ran, log = run("--refine-iterations", "2", "--round0-epochs", "2")
    assert "train.epochs 1 -> 2" in log and {"round0", "relabel"} <= ran, log  # a new round 0 relabels
    (conf.parent / "tiny3.yaml").write_text(TINY.replace("epochs: 2", "epochs: 3"))
    ran, log = run("--refine-iterations", "2", "--round0-epochs", "2", "--config", str(conf.parent / "tiny3.yaml"))
    assert ran == {"final", "decode", "score"} and "train.epochs 2 -> 3" in log, log  # round 0's epochs are its own
    # the report follows the new model even when its hypotheses did not change (it shows the training history)
    assert "history.json" in log.split("stage 5:")[1] and re.search(r"^\| 3 \|", (exp / "report.md").read_text(), re.M), log
    assert digest(exp / "model.pt") != model  # trained anew
    assert json.loads((exp / "decode_test" / "decode.json").read_text())["method"] == "greedy"
    ran, log = run("--refine-iterations", "2", "--round0-epochs", "2", "--config", str(conf.parent / "tiny3.yaml"),
                   "--decode", "beam")
    assert ran == {"decode", "score"}, log
    assert "decode greedy -> beam" in log


def test_the_stage_check_does_not_import_torch(tmp_path):
    """run.sh calls `scripts/stage.py` before and after every stage, most with --config; torch's import was a
    second and a half of each call (cli.py imported DependencyError from features.dsp; config.py read the
    models' settings from phonerec.models). Catches either coming back: the check resolves a real config."""
    script = REPO / "scripts" / "stage.py"
    conf = REPO / "recipes" / "english" / "conf" / "crdnn_cpu.yaml"
    (tmp_path / "in.txt").write_text("a")
    args = ["check", "--record", str(tmp_path / "r.json"), "--input", f"a={tmp_path / 'in.txt'}",
            "--config", str(conf), "--set", "model.crdnn.lstm_hidden=64", "--settings-of", "training"]
    code = (f"import runpy, sys\nsys.argv = [{str(script)!r}, *{args!r}]\n"
            f"try:\n    runpy.run_path({str(script)!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    for done in (False, True):  # no record yet (the config still resolved), then an up-to-date record
        if done:
            subprocess.run([sys.executable, str(script), "done", *args[1:]], check=True, timeout=60)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
        assert ("no record of an earlier run" in out.stdout) != done, out.stdout
