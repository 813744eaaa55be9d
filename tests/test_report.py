import json

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import export_untrained

from phonerec.config import ExperimentConfig, ModelConfig, save_config, to_dict
from phonerec.evaluation.per import analyze, score, write_hyp_file, write_score, write_summary
from phonerec.evaluation.report import (
    fold_segments,
    pick_examples,
    plot_confusion,
    plot_history,
    plot_utterance,
    write_report,
)
from phonerec.models import build_model
from phonerec.models.crdnn import CRDNNConfig
from phonerec.phones import PhoneTokenizer, fold
from phonerec.segments import reference_segments

PNG = b"\x89PNG\r\n\x1a\n"
HISTORY = [{"epoch": e, "train_loss": 3.0 / e, "dev_loss": 3.2 / e + 0.1, "dev_per": 80.0 / e + 10, "lr": 1e-3,
            "seconds": 12.0} for e in range(1, 6)]




def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def test_plots_are_written(tmp_path):
    assert _is_png(plot_history(HISTORY, tmp_path / "h.png"))
    m = np.random.default_rng(0).integers(0, 5, (39, 39)) + np.eye(39, dtype=int) * 50
    assert _is_png(plot_confusion(m.tolist(), path=tmp_path / "c.png"))
    wave = np.random.default_rng(0).standard_normal(8000).astype("float32") * 0.1
    tiers = {"ref": [(0.0, 0.1, "sil"), (0.1, 0.3, "aa"), (0.3, 0.5, "sil")], "hyp": [(0.05, 0.35, "aa")]}
    assert _is_png(plot_utterance(wave, 16000, tiers, tmp_path / "u.png", "title"))


def test_reference_segments_from_manifest_row():
    row = {"phn": "h# q b ax h#", "ground_truth_phn_ends": "1600 2000 3200 4000 8000"}
    segs = reference_segments(row)
    assert segs[0] == (0.0, 0.1, "h#") and segs[-1] == (0.25, 0.5, "h#")
    assert [p for _, _, p in fold_segments(segs)] == ["sil", "b", "ah", "sil"]  # q dropped
    merged = fold_segments([(0.0, 0.1, "h#"), (0.1, 0.2, "pau"), (0.2, 0.3, "bcl"), (0.3, 0.4, "b")])
    assert merged == [(0.0, 0.3, "sil"), (0.3, 0.4, "b")]  # h# pau bcl -> one sil
    with pytest.raises(ValueError):
        reference_segments({"phn": "h# b", "ground_truth_phn_ends": "10"})


def test_pick_examples():
    rows = [("a", 10.0), ("b", 0.0), ("c", 50.0), ("d", 20.0), ("e", 5.0)]
    assert pick_examples(rows) == [("best", "b"), ("median", "a"), ("worst", "c")]
    assert pick_examples([("a", 1.0)]) == [("best", "a")]
    assert pick_examples([]) == []


@pytest.fixture
def experiment(tmp_path):
    """exp/ with history, a tiny model and scored dev/test decodes; data/ with a manifest and wavs."""
    exp, data = tmp_path / "exp" / "tiny", tmp_path / "data"
    cfg = ExperimentConfig()
    cfg.model = ModelConfig("crdnn", CRDNNConfig(cnn_channels=[4, 4], time_strides=[2, 1], lstm_hidden=8,
                                                 lstm_layers=1, proj_dim=8))
    tok = PhoneTokenizer.for_set(48)
    torch.manual_seed(0)
    model = build_model(cfg.model, 80, len(tok))
    export_untrained(model, {"config": to_dict(cfg), "phones": tok.phones,
                              "cmvn": {"mean": [0.0] * 80, "std": [1.0] * 80}}, exp)
    save_config(cfg, exp / "config.yaml")
    (exp / "history.json").write_text(json.dumps(HISTORY))
    rng = np.random.default_rng(0)
    manifest = {}
    for k in range(4):
        wav = data / "wav" / f"u{k}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, (rng.standard_normal(16000) * 0.1).astype("float32"), 16000)
        manifest[f"spk{k % 2}_s{k}"] = {"wav": str(wav), "duration": 1.0, "spk_id": f"spk{k % 2}",
                                        "phn": "h# sh iy hh ae dcl d h#", "wrd": "she had",
                                        "ground_truth_phn_ends": "2000 4000 6000 7000 9000 10000 11000 16000"}
    (data / "manifests").mkdir(parents=True)
    for split in ("dev", "test"):
        (data / "manifests" / f"{split}.json").write_text(json.dumps(manifest))
        refs = {u: r["phn"].split() for u, r in manifest.items()}
        hyps = {u: fold(r[: 3 + i], 48) + ["aa"] for i, (u, r) in enumerate(refs.items())}  # model's set
        write_hyp_file(exp / f"decode_{split}" / "hyp.txt", hyps)
        write_score(exp / f"decode_{split}", *score(refs, hyps))
        write_summary(exp / f"decode_{split}", analyze(refs, hyps), split)
        segments = {u: {"forced": _tiled(fold(refs[u], 48)), "hyp": _tiled(h)} for u, h in hyps.items()}
        (exp / f"decode_{split}" / "segments.json").write_text(json.dumps(
            {"method": "ctc_viterbi", "phone_set": 48, "frame_s": 0.02, "utts": segments, "failed": {}}))
    return exp, data


def _tiled(phones, duration=1.0):
    """Segments of equal length tiling [0, duration], as decode's segments.json holds them."""
    step = duration / len(phones)
    return [[round(i * step, 4), round((i + 1) * step, 4), p] for i, p in enumerate(phones)]


def test_report_puts_numbers_and_images_together(experiment):
    exp, data = experiment
    md_path = write_report(exp, data, ("dev", "test"), n_examples=1)
    md = md_path.read_text()
    per = json.loads((exp / "decode_test" / "per.json").read_text())["per"]
    assert f"**{per:.2f}**" in md and "| dev |" in md and "| test |" in md
    images = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert "report/history.png" in images and "report/confusion_test.png" in images
    assert sum(i.startswith("report/utt_") for i in images) == 1
    for image in images:
        assert _is_png(exp / image), image
    assert "ref: `sil sh iy hh ae sil d sil`" in md
    assert "hyp: `sil sh iy hh ae sil aa`" in md  # the scored hyp.txt line (best utterance)


def test_report_needs_no_model_and_without_segments_or_history_still_writes_numbers(experiment):
    exp, data = experiment
    (exp / "model.pt").unlink()
    assert "utt_" in write_report(exp, data, ("test",)).read_text()  # the examples come from segments.json
    (exp / "decode_test" / "segments.json").unlink()
    (exp / "history.json").unlink()
    md = write_report(exp, data, ("test",)).read_text()
    assert "| test |" in md and "history.png" not in md and "utt_" not in md
