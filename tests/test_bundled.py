"""The English model shipped in the package: the file is the one its card describes, the card says what a
user must know (data and licences, how to retrain it, what it measured), and it is what phonerec uses when
no model is named."""
import numpy as np
import pytest
import soundfile as sf

from phonerec.inference import bundled
from phonerec.training.checkpoint import CheckpointError


def test_the_shipped_model_is_the_one_its_card_describes():
    path, card = bundled.bundled_model_path(), bundled.bundled_card()
    assert path is not None and card is not None
    assert bundled.sha256_of(path) == card["sha256"] and path.stat().st_size == card["size_bytes"] <= 10_000_000
    for key in ("name", "trained_on", "data", "licence", "config", "command", "training_minutes", "commit", "figures"):
        assert card.get(key), key
    assert all(d["licence"] and d["attribution"] for d in card["data"])
    assert any("LJSpeech" in k for k in card["figures"])  # measured on speech it never heard


def test_no_model_named_means_the_bundled_one(tmp_path):
    from phonerec import Recognizer
    from phonerec.commands import transcribe

    rng = np.random.default_rng(0)
    sf.write(tmp_path / "a.wav", (rng.standard_normal(16000) * 0.1).astype("float32"), 16000)
    r = Recognizer.load(device="cpu")
    assert r._t.loaded.path == bundled.bundled_model_path() and r.transcribe(tmp_path / "a.wav").duration == 1.0
    assert transcribe.main([str(tmp_path / "a.wav")]) == 0


def test_without_a_bundled_model_the_error_names_the_option(monkeypatch, tmp_path):
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path)
    assert bundled.bundled_model_path() is None
    with pytest.raises(CheckpointError, match="--model"):
        bundled.model_or_bundled(None)
    assert bundled.model_or_bundled("exp/x") == "exp/x"


def test_bundling_stores_half_precision_weights_that_decode_as_the_trained_model(trained_model, tmp_path):
    """scripts/bundle_model.py's default: float16 storage (half the file), loaded into the float32 model,
    the card's hash of the written file, and the same phones as the experiment's float32 model."""
    import json
    import shutil
    import sys
    from pathlib import Path

    import torch

    from phonerec import Recognizer
    from phonerec.training import checkpoint

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bundle_model

    data, exp = trained_model
    (tmp_path / "data" / "manifests").mkdir(parents=True)
    for split in ("train", "dev"):
        shutil.copyfile(data / "manifests" / f"{split}.json", tmp_path / "data" / "manifests" / f"{split}.json")
    (tmp_path / "data" / "manifests" / "sources.json").write_text(json.dumps({"plan": {"train": ["so762:train"]}}))
    out = tmp_path / "out"
    assert bundle_model.main(["--exp", str(exp), "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    stored = checkpoint.load(out / bundled.MODEL_NAME)["model"]
    trained = checkpoint.load(exp / "model.pt")["model"]
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert (out / bundled.MODEL_NAME).stat().st_size < 0.6 * (exp / "model.pt").stat().st_size
    card = json.loads((out / bundled.CARD_NAME).read_text())
    assert card["sha256"] == bundled.sha256_of(out / bundled.MODEL_NAME) and card["weights"].startswith("stored as float16")
    half, full = Recognizer.load(out / bundled.MODEL_NAME, device="cpu"), Recognizer.load(exp, device="cpu")
    for name, p in half._t.model.state_dict().items():
        if p.is_floating_point():
            assert p.dtype == torch.float32 and torch.equal(p, trained[name].half().float()), name
    wavs = sorted(Path(json.loads((data / "manifests" / "test.json").read_text())[u]["wav"])
                  for u in json.loads((data / "manifests" / "test.json").read_text()))[:3]
    assert [half.transcribe(w).phones for w in wavs] == [full.transcribe(w).phones for w in wavs]
    assert [d["corpus"] for d in card["data"]][2:] == [] and "synthesized" not in card["trained_on"]
    # the English recipe's exact-times round: its synthesized corpus (data/synth) is on the card with its licences
    # when the model trained on data/exact (the real labels + it), and not when the folder is only lying there
    (tmp_path / "data" / "synth" / "manifests").mkdir(parents=True)
    (tmp_path / "data" / "synth" / "manifests" / "train.json").write_text(json.dumps(
        {"mkal0_c0001": {"duration": 1800.0}, "fslt0_c0002": {"duration": 1800.0}}))
    (tmp_path / "data" / "exact" / "manifests").mkdir(parents=True)
    (tmp_path / "data" / "exact" / "manifests" / "train.json").write_text("{}")  # not what the model trained on
    assert bundle_model.main(["--exp", str(exp), "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    card = json.loads((out / bundled.CARD_NAME).read_text())
    assert len(card["data"]) == 2 and "synthesized" not in card["trained_on"] + card["name"] + card["licence"]
    shutil.copyfile(data / "manifests" / "train.json", tmp_path / "data" / "exact" / "manifests" / "train.json")
    assert bundle_model.main(["--exp", str(exp), "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    card = json.loads((out / bundled.CARD_NAME).read_text())
    assert "synthesized" in card["licence"]
    assert card["data"][-1]["corpus"].startswith("synthesized") and card["data"][-1]["licence"]
    assert "then 2 synthesized utterances, 1.00 h" in card["trained_on"] and "synthesized" in card["name"]
    assert "frame head learns from their exact times alone" not in card["trained_on"]
    # the real speech's times dropped in data/exact (prepare --drop-times real): the card says what taught the head
    (tmp_path / "data" / "exact" / "manifests" / "sources.json").write_text(json.dumps({"real": {"phone_times": "dropped"}}))
    assert bundle_model.main(["--exp", str(exp), "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert "(the exact-times round: the frame head learns from their exact times alone, CTC from all)" in json.loads(
        (out / bundled.CARD_NAME).read_text())["trained_on"]
    # trained on speed-perturbed copies (the exact-times round's --exact-speeds): the card says so
    state = checkpoint.load(exp / "model.pt")
    state["config"]["features"]["speed_perturb"] = [0.9, 1.0, 1.1]
    torch.save(state, tmp_path / "sped.pt")
    shutil.copytree(exp, tmp_path / "exp_sped", ignore=shutil.ignore_patterns("model.pt", "checkpoints", ".stage.json"))
    shutil.copyfile(tmp_path / "sped.pt", tmp_path / "exp_sped" / "model.pt")
    record = tmp_path / "exp_sped" / ".stage.json"  # the recipe's record of the round: the model it continued

    def card_continuing(start: Path, recorded: Path | None = None) -> str:
        from phonerec.records import digest
        record.write_text(json.dumps({"inputs": {"start model": {"path": str(start), "digest": digest(recorded or start)}}}))
        assert bundle_model.main(["--exp", str(tmp_path / "exp_sped"), "--data", str(tmp_path / "data"),
                                  "--out", str(out)]) == 0
        return json.loads((out / bundled.CARD_NAME).read_text())["trained_on"]

    trained_on = card_continuing(exp / "model.pt")  # a real-speech model trained without copies
    assert "(the exact-times round, each utterance at speeds 0.9, 1.0, 1.1: the frame head learns from their exact " \
           "times alone, CTC from all)" in trained_on and "its last round on copies" not in trained_on
    # ... continuing a real-speech model whose head round trained on speed copies (run.sh --round-speeds)
    real = checkpoint.load(exp / "model.pt")
    real["config"]["features"]["speed_perturb"] = [0.9, 1.0, 1.1]
    torch.save(real, tmp_path / "real_sped.pt")
    assert " (its last round on copies at speeds 0.9, 1.0, 1.1); dev " in card_continuing(tmp_path / "real_sped.pt")
    # ... but not when the file there is no longer the model the round read (or the record is gone)
    assert "its last round on copies" not in card_continuing(tmp_path / "real_sped.pt", recorded=exp / "model.pt")
    record.unlink()
    assert bundle_model.main(["--exp", str(tmp_path / "exp_sped"), "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert "its last round on copies" not in json.loads((out / bundled.CARD_NAME).read_text())["trained_on"]
    # figures of two sets, one --figures flag each (the recipe README's command): both reach the card
    for name, per in (("a", 30.0), ("b", 40.0)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"systems": [{"system": "phonerec", "speed": {"rtf_cpu": 0.01},
            "scores": {"sil_optional": {"per": per}, "without_sil": {"per": per + 1}}}]}))
    assert bundle_model.main(["--exp", str(exp), "--data", str(tmp_path / "data"), "--out", str(out), "--figures",
                              f"A={tmp_path / 'a.json'}", "--figures", f"B={tmp_path / 'b.json'}", "--figures-on",
                              "A=set a", "--figures-on", "B=set b"]) == 0
    card = json.loads((out / bundled.CARD_NAME).read_text())
    assert card["figures"]["A, this model: PER sil_optional / without sil"] == "30.00 % / 31.00 %"
    assert card["figures"]["B, this model: PER sil_optional / without sil"] == "40.00 % / 41.00 %"
    assert card["figures_on"] == {"A": "set a", "B": "set b"}


def test_training_minutes_count_the_run_that_wrote_each_model(tmp_path):
    """The card's training time: in each train log, the run that wrote its model.pt. Catches a log that the recipe
    appended to a second time counting the hours between the two runs (session 5: 195.7 min for 45.6)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bundle_model

    def run(start_s, minutes, init=True, wrote=True):
        t = lambda s: f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"  # noqa: E731
        end = start_s + minutes * 60
        lines = [f"{t(start_s)} INFO phonerec.experiment.train: weights from /x/model.pt (best epoch 3)"] if init else []
        lines += [f"{t(start_s)} INFO phonerec.experiment.train: model crdnn (cnn_channels [32]): 1.9 M parameters",
                  f"{t(end - 60)} INFO phonerec.training.trainer: epoch 1  train_loss 1.0"]
        if wrote:
            lines += [f"{t(end)} INFO phonerec.experiment.train: wrote /x/exp/model.pt (best epoch 1)",
                      f"{t(end)} INFO train: best dev PER 40.00 % at epoch 1"]
        return lines

    (tmp_path / "log").mkdir()
    (tmp_path / "round0" / "log").mkdir(parents=True)
    first, second = run(14 * 3600, 10), run(16 * 3600 + 50 * 60, 9)
    (tmp_path / "log" / "train.log").write_text("\n".join(first + second + run(17 * 3600, 3, wrote=False)) + "\n")
    (tmp_path / "round0" / "log" / "train.log").write_text("\n".join(run(13 * 3600, 5, init=False)) + "\n")
    assert bundle_model.training_minutes(tmp_path) == 14.0  # 9 (the second run; the third wrote nothing) + 5
    assert bundle_model.training_minutes(tmp_path / "nothing") != bundle_model.training_minutes(tmp_path / "nothing")  # nan
