"""Shared fixtures: one small synthetic TIMIT tree per session, and ways to reshape it
into the layouts users' copies come in (lower case, RIFF audio, extra folder levels)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from phonerec.corpora.synthetic import generate_corpus


@pytest.fixture(scope="session")
def timit_tree(tmp_path_factory) -> Path:
    """A small synthetic corpus in the LDC layout (upper case, SPHERE). Do not modify: copy it."""
    root = tmp_path_factory.mktemp("corpus") / "TIMIT"
    generate_corpus(root, seed=0, train_speakers_per_dr=1)
    return root


def copy_tree(src: Path, dst: Path, *, lowercase=False, riff=False, wav_suffix=None) -> Path:
    """Copy a TIMIT tree, optionally lower-casing every path, converting audio to RIFF
    and renaming audio files to `wav_suffix` (e.g. '.WAV.wav' or '.wav')."""
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(src)
        rel = Path(str(rel).lower()) if lowercase else rel
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix.lower() == ".wav":
            if wav_suffix:
                target = target.with_name(target.name.split(".")[0] + wav_suffix)
            if riff:
                data, sr = sf.read(f, dtype="int16")
                sf.write(target, data, sr, subtype="PCM_16", format="WAV")
                continue
        shutil.copyfile(f, target)
    return dst


def write_riff(path: Path, n_samples: int, sr: int = 16000) -> None:
    sf.write(path, np.zeros(n_samples, dtype=np.int16), sr, subtype="PCM_16", format="WAV")


def export_tiny_model(exp_dir: Path) -> Path:
    """exp_dir/model.pt of a tiny untrained CRDNN (48 phones, 80 mels), written as training writes it:
    the Trainer saves an epoch checkpoint (no batches, so no update) and experiment.export_model
    turns best.pt into model.pt, so a change of the checkpoint format reaches the tests."""
    import torch

    from phonerec.config import ExperimentConfig, ModelConfig, to_dict
    from phonerec.models import build_model
    from phonerec.models.crdnn import CRDNNConfig
    from phonerec.phones import PhoneTokenizer

    cfg = ExperimentConfig()
    cfg.model = ModelConfig("crdnn", CRDNNConfig(cnn_channels=[4, 4], time_strides=[2, 1], lstm_hidden=8,
                                                 lstm_layers=1, proj_dim=8))
    tok = PhoneTokenizer.for_set(48)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.features.n_mels, len(tok))
    cmvn = {"mean": [0.0] * cfg.features.n_mels, "std": [1.0] * cfg.features.n_mels}
    return export_untrained(model, {"config": to_dict(cfg), "phones": tok.phones, "cmvn": cmvn}, exp_dir)


def export_untrained(model, extra: dict, exp_dir: Path) -> Path:
    """exp_dir/model.pt of `model`'s weights as training writes it: the Trainer saves an epoch
    checkpoint (no batches, so no update) and experiment.export_model turns best.pt into model.pt."""
    import torch

    from phonerec.experiment.train import export_model
    from phonerec.training.trainer import Trainer, TrainerConfig

    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.0), None,
                      TrainerConfig(epochs=1, lr=0.0, monitor="dev_per"), ckpt_dir=exp_dir / "checkpoints",
                      evaluate=lambda m: {"dev_per": 100.0}, extra=extra)
    trainer.fit([])
    return export_model(trainer, exp_dir, extra)


def export_tiny_frame_head(exp_dir: Path, cmvn: dict | None = None) -> Path:
    """exp_dir/model.pt of an untrained 48-phone CRDNN with a frame head (seed 0): the bundled model's kind of
    network, for paths whose placement the test does not judge. `cmvn`: zero mean, unit std by default."""
    import torch

    from phonerec.config import ExperimentConfig, ModelConfig, to_dict
    from phonerec.models import build_model
    from phonerec.phones import PhoneTokenizer

    cfg = ExperimentConfig()
    cfg.model = ModelConfig.from_dict({"name": "crdnn", "crdnn": {"cnn_channels": [4, 4], "lstm_hidden": 8,
                                                                  "lstm_layers": 1, "proj_dim": 8}})
    cfg.train.frame_weight = 0.5
    tok = PhoneTokenizer.for_set(48)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.features.n_mels, len(tok), frame_head=True)
    cmvn = cmvn or {"mean": [0.0] * cfg.features.n_mels, "std": [1.0] * cfg.features.n_mels}
    return export_untrained(model, {"config": to_dict(cfg), "phones": tok.phones, "cmvn": cmvn}, exp_dir)


# A small CNN that learns phones on the session corpus in seconds (see test_learning.py for its figures).
LEARNING_MODEL = ["model.name=cnn", "model.cnn.cnn_channels=[96,96]", "model.cnn.cnn_blocks=3",
                  "model.cnn.time_strides=[2,1]", "model.cnn.dropout=0.0"]
LEARNING_TRAIN = ["train.epochs=25", "train.lr=3e-3", "train.schedule=constant", "train.warmup_steps=20",
                  "data.max_frames=1500"]


@pytest.fixture(scope="session")
def trained_model(timit_tree, tmp_path_factory) -> tuple[Path, Path]:
    """(data dir, exp dir) of the real path on the session corpus: prepare -> features -> train
    (LEARNING_MODEL, one thread) -> greedy decode of the test split. Do not modify: copy it."""
    import torch

    from phonerec.commands import decode, features, prepare, train

    work = tmp_path_factory.mktemp("learning")
    data, exp = work / "data", work / "exp"
    assert prepare.main(["--timit", str(timit_tree), "--out", str(data / "manifests")]) == 0
    assert features.main(["--data", str(data)]) == 0
    overrides = [x for item in LEARNING_MODEL + LEARNING_TRAIN for x in ("--set", item)]
    threads = torch.get_num_threads()
    try:  # one thread: reproducible, and on a shared 2-core machine faster than two
        assert train.main(["--data", str(data), "--exp", str(exp), "--device", "cpu", "--threads", "1",
                           *overrides]) == 0
    finally:
        torch.set_num_threads(threads)
    assert decode.main(["--exp", str(exp), "--data", str(data), "--splits", "test", "--device", "cpu"]) == 0
    return data, exp
