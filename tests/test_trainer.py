"""Trainer: the CTC model overfits a few utterances; resume reproduces an uninterrupted run."""
import math

import pytest
import torch

from phonerec.config import ModelConfig
from phonerec.data import collate
from phonerec.decoding.ctc import greedy_decode
from phonerec.experiment.train import ctc_step
from phonerec.models import build_model
from phonerec.models.cnn import CNNConfig
from phonerec.models.crdnn import CRDNNConfig
from phonerec.models.lstm import LSTMConfig
from phonerec.training.schedule import lr_factor
from phonerec.training.trainer import Trainer, TrainerConfig, TrainingError, adamw


def _toy_batches(n_utts=4, seed=0):
    """Utterances whose frames encode their phone ids (learnable), as one Batch."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n_utts):
        ids = torch.randint(1, 10, (6,), generator=g)
        frames = ids.repeat_interleave(5)  # 5 frames per phone
        feats = torch.nn.functional.one_hot(frames, 16).float() + 0.1 * torch.randn(len(frames), 16, generator=g)
        items.append((feats, ids, f"u{i}"))
    return [collate(items)]


@pytest.mark.parametrize("name", ["crdnn", "lstm", "cnn"])
def test_ctc_model_overfits_few_utterances(tmp_path, name):
    torch.manual_seed(0)
    cfg = ModelConfig(name, {"crdnn": CRDNNConfig(cnn_channels=[16, 32], time_strides=[2, 1], lstm_hidden=48,
                                                  lstm_layers=1, proj_dim=48, dropout=0.0),
                             "lstm": LSTMConfig(frame_stack=2, lstm_hidden=48, lstm_layers=1, dropout=0.0),
                             "cnn": CNNConfig(cnn_channels=[16, 32], time_strides=[2, 1], cnn_blocks=2,
                                              dropout=0.0)}[name])
    model = build_model(cfg, 16, 10)
    batches = _toy_batches()
    losses = []
    trainer = Trainer(model, torch.optim.AdamW(model.parameters(), lr=3e-3), ctc_step,
                      TrainerConfig(epochs=150, lr=3e-3, monitor="train_loss", keep_checkpoints=1),
                      ckpt_dir=tmp_path, evaluate=lambda m: {"train_loss_eval": ctc_step(m, batches[0]).item()})
    history = trainer.fit(batches)
    losses = [h["train_loss"] for h in history]
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    model.eval()
    b = batches[0]
    lp, lens = model(b.feats, b.feat_lens)
    hyps = greedy_decode(lp, lens)
    correct = sum(h == t[:n].tolist() for h, t, n in zip(hyps, b.targets, b.target_lens))
    assert correct >= 3  # decodes (nearly) all training utterances exactly


def _mlp_trainer(tmp_path, epochs, seed=0, die_at_step=None):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(32, 3))
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)

    class Loader(list):  # 4 batches, shuffled per epoch by a sampler with set_epoch
        pass

    loader = Loader([(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)])

    calls = {"n": 0}

    def loss_fn(m, batch):
        calls["n"] += 1
        if calls["n"] == die_at_step:
            raise KeyboardInterrupt("simulated kill in the middle of an epoch")
        return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

    cfg = TrainerConfig(epochs=epochs, lr=1e-2, schedule="cosine", warmup_steps=3, grad_clip=1.0,
                        monitor="valid_loss", plateau_factor=0.5, keep_checkpoints=2)
    trainer = Trainer(model, torch.optim.AdamW(model.parameters(), lr=1e-2), loss_fn, cfg, ckpt_dir=tmp_path,
                      evaluate=lambda m: {"valid_loss": loss_fn(m, (x, y)).item()})
    return trainer, loader


def test_resume_gives_same_weights_as_straight_run(tmp_path):
    straight, loader = _mlp_trainer(tmp_path / "a", epochs=6)
    straight.fit(loader)
    # killed during epoch 4 (3 epochs x (4 train steps + 1 evaluation) = 15 calls, then 2 more)
    first, loader = _mlp_trainer(tmp_path / "b", epochs=6, die_at_step=17)
    with pytest.raises(KeyboardInterrupt):
        first.fit(loader)
    assert first.state.epoch == 3
    torch.manual_seed(123)  # a restarted process has a different RNG state...
    resumed, loader = _mlp_trainer(tmp_path / "b", epochs=6, seed=99)  # ...and different fresh weights
    resumed.fit(loader, resume=True)
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert [h["train_loss"] for h in resumed.state.history] == [h["train_loss"] for h in straight.state.history]
    assert sorted(p.name for p in (tmp_path / "b").glob("epoch-*.pt"))  # per-epoch checkpoints kept


@pytest.mark.parametrize("optim", ["fused_adamw", "sgd"])
def test_nonfinite_steps_are_skipped_exactly(tmp_path, optim):
    """Every other loss is NaN: the weights end equal to a run that only saw the good steps
    (fused AdamW skips on the device, SGD on the host), then a NaN streak stops the run."""
    def make(loss_fn):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        opt = adamw(model.parameters(), lr=0.1) if optim == "fused_adamw" else torch.optim.SGD(model.parameters(), lr=0.1)
        cfg = TrainerConfig(epochs=1, lr=0.1, grad_clip=1.0, monitor="train_loss", max_bad_steps=3)
        return Trainer(model, opt, loss_fn, cfg, ckpt_dir=tmp_path / f"run{len(list(tmp_path.iterdir()))}")

    xs = [torch.randn(1, 2, generator=torch.Generator().manual_seed(i)) for i in range(6)]
    nan_every_other = make(lambda m, b: m(b[0]).sum() * (float("nan") if int(b[1]) % 2 else 1.0))
    nan_every_other.fit([(x, torch.tensor(i)) for i, x in enumerate(xs)])
    good_only = make(lambda m, b: m(b[0]).sum())
    good_only.fit([(x, torch.tensor(i)) for i, x in enumerate(xs) if i % 2 == 0])
    assert nan_every_other.state.skipped_steps == 3 and good_only.state.skipped_steps == 0
    for a, b in zip(nan_every_other.model.parameters(), good_only.model.parameters()):
        assert torch.equal(a, b)
    assert nan_every_other.state.history[0]["train_loss"] == pytest.approx(good_only.state.history[0]["train_loss"])

    always_nan = make(lambda m, b: m(b[0]).sum() * float("nan"))
    with pytest.raises(TrainingError, match="3 non-finite losses in a row"):
        always_nan.fit([(x, torch.tensor(i)) for i, x in enumerate(xs)])


def test_all_steps_skipped_gives_nan_loss_and_max_bad_steps_0_never_stops(tmp_path):
    model = torch.nn.Linear(2, 1)
    before = [p.detach().clone() for p in model.parameters()]
    cfg = TrainerConfig(epochs=2, lr=0.1, monitor="train_loss", max_bad_steps=0)
    trainer = Trainer(model, adamw(model.parameters(), lr=0.1), lambda m, b: m(b[0]).sum() * float("nan"), cfg,
                      ckpt_dir=tmp_path)
    history = trainer.fit([(torch.ones(1, 2),)] * 25)
    assert [math.isnan(h["train_loss"]) for h in history] == [True, True]
    assert trainer.state.skipped_steps == 50 and trainer.state.best is None
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_resume_from_a_non_fused_optimizer_checkpoint(tmp_path):
    """Checkpoints written before the fused optimizer must resume with it (fused stays on)."""
    torch.manual_seed(0)
    cfg = TrainerConfig(epochs=2, lr=1e-2, monitor="train_loss")
    batches = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)]

    def loss_fn(m, b):
        return torch.nn.functional.mse_loss(m(b[0]), b[1])
    old = torch.nn.Linear(2, 1)
    Trainer(old, torch.optim.AdamW(old.parameters(), lr=1e-2), loss_fn,
            TrainerConfig(epochs=1, lr=1e-2, monitor="train_loss"), ckpt_dir=tmp_path).fit(batches)
    new = torch.nn.Linear(2, 1)
    trainer = Trainer(new, adamw(new.parameters(), lr=1e-2), loss_fn, cfg, ckpt_dir=tmp_path)
    history = trainer.fit(batches, resume=True)
    assert [h["epoch"] for h in history] == [1, 2] and trainer.state.step == 6
    assert all(g["fused"] for g in trainer.optimizer.param_groups)
    assert all(math.isfinite(h["train_loss"]) for h in history)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_step_on_cuda_has_no_sync(tmp_path):
    """CUDA's own sync detector: a synchronising call inside the step raises."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).cuda()
    cfg = TrainerConfig(epochs=1, lr=1e-2, grad_clip=1.0, schedule="cosine", warmup_steps=2)
    trainer = Trainer(model, adamw(model.parameters(), lr=1e-2),
                      lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), cfg, ckpt_dir=tmp_path,
                      device="cuda")
    batch = (torch.randn(5, 4, device="cuda"), torch.randint(0, 3, (5,), device="cuda"))
    trainer.train_step(batch, total_steps=10)  # first step: optimizer state is created
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            trainer.train_step(batch, total_steps=10)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_train_step_with_fused_adamw_never_reads_the_device(tmp_path, monkeypatch):
    """The step must not sync host and device: any read of a tensor value fails here."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    cfg = TrainerConfig(epochs=1, lr=1e-2, grad_clip=1.0, schedule="cosine", warmup_steps=2)
    trainer = Trainer(model, adamw(model.parameters(), lr=1e-2),
                      lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), cfg, ckpt_dir=tmp_path)
    before = [p.detach().clone() for p in model.parameters()]

    def host_read(*args, **kwargs):
        raise AssertionError("host-device sync inside train_step")
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    for _ in range(3):
        loss, skipped = trainer.train_step((torch.randn(5, 4), torch.randint(0, 3, (5,))), total_steps=10)
    monkeypatch.undo()
    assert not skipped.item() and math.isfinite(loss.item())
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_schedule_values_at_known_steps():
    assert lr_factor("cosine", 0, warmup=10, total=110) == pytest.approx(0.1)
    assert lr_factor("cosine", 9, warmup=10, total=110) == pytest.approx(1.0)
    assert lr_factor("cosine", 59, warmup=10, total=110) == pytest.approx(0.02 + 0.98 * 0.5)
    assert lr_factor("cosine", 109, warmup=10, total=110) == pytest.approx(0.02)
    assert lr_factor("noam", 39, warmup=10, total=0) == pytest.approx(math.sqrt(10 / 40))
    assert lr_factor("constant", 500, warmup=10, total=0) == 1.0
