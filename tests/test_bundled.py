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
