"""The training path on a device: one epoch of the real build_training -> fit (with dev evaluation)
-> export -> decode, on the CPU and, where there is one, on CUDA. Both run the same code; on CUDA
it catches what the CPU cannot (a CPU length meeting a CUDA output, a dtype under bf16 autocast)."""
import json
import math

import pytest
import torch

from phonerec.config import load_config
from phonerec.data import Batch, collate
from phonerec.experiment.decode import decode_experiment
from phonerec.experiment.train import build_training, export_model
from phonerec.models import build_model
from phonerec.models.common import BiLSTM

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]
TINY = ["model.name=crdnn", "model.crdnn.cnn_channels=[4,4]", "model.crdnn.time_strides=[2,1]",
        "model.crdnn.lstm_hidden=16", "model.crdnn.lstm_layers=1", "model.crdnn.proj_dim=16",
        "train.epochs=1", "train.frame_weight=0.5", "train.amp=true", "data.max_frames=4000"]


@pytest.mark.parametrize("device", DEVICES)
def test_one_epoch_fit_evaluate_export_decode(trained_model, tmp_path, device):
    data, _ = trained_model
    exp = tmp_path / "exp"
    cfg = load_config(None, TINY + ["features.n_mels=" + str(_n_mels(data))])
    run = build_training(cfg, data, exp, device=device)
    assert next(run.core.parameters()).device.type == device
    assert run.train_loader.pin_memory == (device == "cuda")  # the device used, not cuda.is_available()
    history = run.trainer.fit(run.train_loader)
    assert len(history) == 1 and math.isfinite(history[0]["dev_loss"]) and 0 <= history[0]["dev_per"] <= 100
    assert (exp / "checkpoints" / "last.pt").is_file()
    export_model(run.trainer, exp, run.extra)
    out = decode_experiment(exp, data, ["test"], device=device)
    hyp = (exp / "decode_test" / "hyp.txt").read_text().splitlines()
    n_test = len(json.loads((data / "manifests" / "test.json").read_text()))
    assert out["test"]["n_utts"] == len(hyp) == n_test > 0
    segments = json.loads((exp / "decode_test" / "segments.json").read_text())
    assert segments["method"] == "frame_viterbi" and not segments["failed"]


def _n_mels(data) -> int:
    return len(json.loads((data / "fbank" / "cmvn.json").read_text())["mean"])


@pytest.mark.parametrize("device", DEVICES)
def test_batch_lengths_stay_on_the_cpu(device):
    batch = collate([(torch.randn(5, 3), torch.tensor([1, 2]), "a"), (torch.randn(4, 3), torch.tensor([3]), "b")])
    moved = batch.to(device)
    assert moved.feats.device.type == device and moved.targets.device.type == device
    assert moved.feat_lens.device.type == "cpu" and moved.target_lens.device.type == "cpu"
    if device == "cuda":
        with pytest.raises(ValueError, match="must stay on the CPU"):
            Batch(moved.feats, moved.feat_lens.to(device), moved.targets, moved.target_lens, moved.utt_ids)


@pytest.mark.parametrize("device", DEVICES)
def test_bilstm_runs_in_float32_under_bf16_autocast(device):
    """CPU autocast runs an LSTM in bf16 and the cuDNN path has been reported to pick fp16: the
    BiLSTM must compute in the dtype chosen for it (fp32) whatever the autocast around it."""
    lstm = BiLSTM(8, 16, 2, 0.0).to(device)
    x = torch.randn(3, 20, 8, device=device)
    with torch.autocast(device, dtype=torch.bfloat16):
        y = lstm(torch.nn.functional.linear(x, torch.eye(8, device=device)), torch.tensor([20, 15, 3]))
    assert y.dtype == torch.float32 and y.shape == (3, 20, 32)
    assert torch.all(y[2, 3:] == 0)  # padding stays out of the packed sequence


@pytest.mark.parametrize("device", DEVICES)
def test_crdnn_under_autocast_gives_float32_log_probs_of_the_right_length(device):
    cfg = load_config(None, TINY + ["features.n_mels=8"])
    model = build_model(cfg.model, 8, 10, frame_head=True).to(device).eval()
    lens = torch.tensor([40, 31])
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16):
        lp, out_lens, flp = model(torch.randn(2, 40, 8, device=device), lens, frames=True)
    assert out_lens.device.type == "cpu" and out_lens.tolist() == model.output_lengths(lens).tolist()
    assert lp.shape[:2] == (2, 20) and flp.shape[:2] == (2, 40)
    assert torch.allclose(lp.float().exp().sum(-1), torch.ones(2, 20, device=device), atol=2e-2)


def test_bilstm_cpu_path_matches_the_packed_one():
    """The CPU path runs each direction unpacked, the backward one on every sequence reversed within
    its own length: outputs and gradients must be the packed LSTM's, so padding never reaches a valid
    frame (a whole-tensor flip, or no reversal at all, would let the padded tail into the backward state)."""
    torch.manual_seed(0)
    lstm = BiLSTM(6, 5, 3, 0.0)
    lens = torch.tensor([11, 4, 9])
    x = torch.randn(3, 11, 6)
    x[1, 4:], x[2, 9:] = 7.0, -7.0  # loud padding: any leak shows
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    packed, per_direction = lstm._packed(xa, lens), lstm(xb, lens)
    assert torch.allclose(packed, per_direction, atol=1e-6)
    assert torch.all(per_direction[1, 4:] == 0) and per_direction[1, :4].abs().min() > 0
    weights = torch.randn_like(packed)
    (packed * weights).sum().backward()
    (per_direction * weights).sum().backward()
    assert torch.allclose(xa.grad, xb.grad, atol=1e-6)
    lstm.zero_grad()
    (lstm._packed(x, lens) * weights).sum().backward()
    g_packed = lstm.lstm.weight_hh_l1_reverse.grad.clone()
    lstm.zero_grad()
    (lstm(x, lens) * weights).sum().backward()
    assert torch.allclose(g_packed, lstm.lstm.weight_hh_l1_reverse.grad, atol=1e-5)
