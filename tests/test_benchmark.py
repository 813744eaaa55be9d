"""scripts/benchmark.py on the session's tiny synthetic corpus: every figure present and sane."""
import json
import math
import os

import pytest

from phonerec.commands import benchmark
from phonerec.experiment import benchmark as measures

TINY = ["--set", "model.name=lstm", "--set", "model.lstm.lstm_hidden=32", "--set", "model.lstm.lstm_layers=1",
        "--set", "model.lstm.frame_stack=2", "--set", "data.max_frames=3000"]


@pytest.fixture(scope="module")
def figures(timit_tree, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "bench.json"
    rc = benchmark.main(["--timit", str(timit_tree), "--work", str(tmp / "work"), *TINY, "--steps", "2",
                         "--warmup", "1", "--threads", "1", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_host_and_corpus(figures):
    host = figures["host"]
    for key in ("loadavg_start", "loadavg_before_train", "loadavg_end"):
        assert len(host[key]) == 3  # recorded (1, 5, 15 min); its value is the machine's, not checkable
    assert host["torch_threads"] == 1 and host["cpu_count"] == os.cpu_count()
    assert figures["corpus"]["source"] == "timit"
    assert figures["overrides"] == [s for s in TINY if s != "--set"]


def test_feature_speed(figures):
    f = figures["features"]
    assert f["device"] == "cpu" and f["speeds"] == [1.0]
    assert f["utterances"] > 0 and f["frames"] > 0
    assert f["audio_seconds"] == pytest.approx(f["source_audio_seconds"])
    assert f["x_realtime"] > 0
    assert f["x_realtime"] == pytest.approx(f["audio_seconds"] / f["wall_seconds"], rel=1e-2)
    # 10 ms frames: about 100 frames per second of audio
    assert f["frames"] == pytest.approx(100 * f["audio_seconds"], rel=0.05)


def test_training_throughput(figures):
    t = figures["train"]
    assert t["device"] == "cpu" and t["gpu"] is None and t["amp_bf16"] is False and t["threads"] == 1
    assert t["model"] == "lstm" and t["parameters"] > 0 and t["subsampling"] == 2
    assert t["steps"] == 2 and t["warmup_steps"] == 1 and t["full_epoch"] is False
    assert t["frames"] > 0 and t["utterances"] > 0 and t["seconds"] > 0
    assert t["padded_frames"] >= t["frames"]
    assert t["frames_per_s"] > 0 and t["utterances_per_s"] > 0 and t["seconds_per_step"] > 0
    assert t["frames_per_s"] == pytest.approx(t["frames"] / t["seconds"], rel=1e-3)
    assert t["utterances_per_s"] == pytest.approx(t["utterances"] / t["seconds"], rel=1e-2)
    assert t["seconds_per_step"] == pytest.approx(t["seconds"] / t["steps"], rel=1e-2)
    assert t["audio_seconds_per_s"] == pytest.approx(t["frames_per_s"] / 100, rel=1e-2)
    assert 0 <= t["padding_ratio"] < 1
    assert t["padding_ratio"] == pytest.approx(t["epoch_padded_frames"] / t["epoch_frames"] - 1, abs=1e-4)
    assert t["epoch_steps"] >= 1 and t["epoch_frames"] > 0
    # the figure is rounded to 0.01 s
    assert t["estimated_epoch_seconds"] == pytest.approx(t["epoch_frames"] / t["frames_per_s"], rel=1e-2, abs=0.006)
    assert t["measured_epoch_seconds"] is None
    assert t["peak_memory_mib"] > 0 and "RSS" in t["peak_memory_kind"]
    assert t["skipped_steps"] == 0


def test_decoding_rtf(figures):
    d = figures["decode"]
    assert d["cuda"] is None  # --device cpu: no GPU decode
    cpu = d["cpu"]
    assert cpu["device"] == "cpu" and cpu["threads"] == 1
    assert cpu["utterances"] > 0 and cpu["audio_seconds"] > 0 and cpu["compute_seconds"] > 0
    assert cpu["rtf"] > 0 and math.isfinite(cpu["rtf"])
    assert cpu["rtf"] == pytest.approx(cpu["compute_seconds"] / cpu["audio_seconds"], rel=1e-2)


def test_epoch_mode_and_data_folder(figures, tmp_path, capsys):
    """--data on the folder the first run prepared, timing one whole epoch."""
    data = figures["corpus"]["data_dir"]
    out = tmp_path / "epoch.json"
    rc = benchmark.main(["--data", data, *TINY, "--epoch", "--warmup", "0", "--threads", "1", "--feature-utts", "8",
                         "--decode-utts", "4", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    t = r["train"]
    assert t["full_epoch"] is True and t["steps"] == t["epoch_steps"]
    assert t["frames"] == t["epoch_frames"] and t["padded_frames"] == t["epoch_padded_frames"]
    assert t["measured_epoch_seconds"] > 0
    assert r["features"]["utterances"] == 8
    assert r["decode"]["cpu"]["utterances"] == 4
    table = capsys.readouterr().out
    for label in ("x real time", "input frames / s", "padding ratio", "peak memory", "RTF"):
        assert label in table


def test_times_the_training_that_experiment_builds(figures, tmp_path, monkeypatch):
    """Catches the benchmark setting training up on its own again (its copy of TrainConfig once
    lacked max_bad_steps): it must time what `experiment.build_training` makes."""
    built, real = [], measures.build_training
    monkeypatch.setattr(measures, "build_training", lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    out = tmp_path / "b.json"
    rc = benchmark.main(["--data", figures["corpus"]["data_dir"], *TINY, "--set", "train.max_bad_steps=3", "--steps",
                         "1", "--warmup", "0", "--threads", "1", "--feature-utts", "2", "--decode-utts", "2",
                         "--device", "cpu", "--json", str(out)])
    assert rc == 0 and len(built) == 1 and built[0].trainer.cfg.max_bad_steps == 3
    t = json.loads(out.read_text())["train"]
    assert t["parameters"] == figures["train"]["parameters"]
    assert t["model_settings"] == "lstm (frame_stack 2, lstm_hidden 32, lstm_layers 1, dropout 0.15)"


def test_bad_config_is_an_error(timit_tree, tmp_path):
    assert benchmark.main(["--timit", str(timit_tree), "--work", str(tmp_path), "--set", "model.nme=x"]) == 1


def test_gpu_checks_compare_bf16_with_fp32_on_the_same_weights(figures, tmp_path):
    """scripts/gpu_checks.py (the README's bf16 and torch.compile figures), run on the CPU: dropout is
    really off (else fp32 vs bf16 would compare two random masks), bf16 really ran (the gradients are
    not bit-identical) and stays close, and the timing counts the steps it was asked for."""
    import gpu_checks
    import torch

    from phonerec.config import load_config
    from phonerec.experiment.train import build_training

    data = figures["corpus"]["data_dir"]
    cfg = load_config(None, [s for s in TINY if s != "--set"] + ["model.lstm.dropout=0.5"])
    training = build_training(cfg, data, tmp_path, torch.device("cpu"))
    batch = next(iter(training.train_loader))
    training.core.train()
    passes = [gpu_checks.loss_and_grad(training.core, batch, 0.0, False, torch.device("cpu"))[0] for _ in range(2)]
    assert passes[0] != passes[1]  # dropout on: the check below would fail without no_dropout
    gpu_checks.no_dropout(training.core)
    passes = [gpu_checks.loss_and_grad(training.core, batch, 0.0, False, torch.device("cpu"))[0] for _ in range(2)]
    assert passes[0] == passes[1]

    out = tmp_path / "gpu_checks.json"
    assert gpu_checks.main(["--data", data, *TINY, "--device", "cpu", "--numerics-batches", "2", "--steps", "2",
                            "--warmup", "1", "--no-compile", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    rows = r["numerics"]["batches"]
    assert len(rows) == 2
    for row in rows:
        assert row["loss_fp32"] > 0 and row["loss_rel_diff"] < 0.05
        assert 0 < row["grad_rel_err"] < 0.2 and row["grad_cosine"] > 0.98
    assert r["numerics"]["worst"]["grad_rel_err"] == max(row["grad_rel_err"] for row in rows)
    assert r["eager"]["steps"] == 2 and r["eager"]["warmup_steps"] == 1 and r["eager"]["seconds_per_step"] > 0
    assert "compiled" not in r
