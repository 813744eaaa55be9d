"""DDP with 2 processes on CPU (gloo): one step equals one process on the global batch.

Plain SGD without clipping, so the update is exactly -lr * gradient: DDP must average the
ranks' gradients (the mean of the shard losses is the global-batch loss). Summing them would
double the update, skipping the all-reduce would leave each rank with its own shard's update;
both fail the comparison below. (AdamW normalises the gradient scale away and clipping caps
it, so neither could tell mean from sum.)
"""
import os
import socket

import torch
import torch.multiprocessing as mp

from phonerec.config import ModelConfig
from phonerec.data import collate
from phonerec.experiment.train import ctc_step
from phonerec.models import build_model
from phonerec.models.lstm import LSTMConfig
from phonerec.training import distributed
from phonerec.training.trainer import Trainer, TrainerConfig

CFG = ModelConfig("lstm", LSTMConfig(frame_stack=1, lstm_hidden=16, lstm_layers=1, dropout=0.0))
LR = 1.0


def _items(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        ids = torch.randint(1, 6, (4,), generator=g)
        out.append((torch.randn(20, 8, generator=g), ids, f"u{i}"))
    return out


def _model():
    torch.manual_seed(0)
    return build_model(CFG, 8, 6)


def _weights(model):
    return {k: v.detach().clone() for k, v in distributed.unwrap(model).state_dict().items()}


def _sgd_step_by_hand(batch):
    """(initial weights, weights after w - LR * grad of the batch loss), computed without the Trainer."""
    model = _model()
    w0 = _weights(model)
    ctc_step(model, batch).backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    return w0, {k: w0[k] - LR * grads[k] if k in grads else w0[k] for k in w0}


def _train_one_step(model, batch, ckpt_dir, is_main=True):
    cfg = TrainerConfig(epochs=1, lr=LR, grad_clip=0.0, monitor="train_loss", keep_checkpoints=1)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    trainer = Trainer(model, opt, ctc_step, cfg, ckpt_dir=ckpt_dir, is_main=is_main)
    history = trainer.fit([batch])
    return history[0]["train_loss"], _weights(model)


def _worker(rank, port, ckpt_dir, results):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    info = distributed.init("cpu")
    model = distributed.wrap(_model(), info)
    items = _items()
    shard = collate(items[2 * rank : 2 * rank + 2])  # each rank: half of the global batch
    loss, weights = _train_one_step(model, shard, ckpt_dir, is_main=info.is_main)
    results[rank] = (loss, weights)
    distributed.cleanup()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _max_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_ddp_step_averages_gradients_over_ranks(tmp_path):
    items = _items()
    w0, expected = _sgd_step_by_hand(collate(items))
    # the three candidate results must be far apart, or the comparison below proves nothing
    doubled = {k: w0[k] + 2 * (expected[k] - w0[k]) for k in w0}  # what summing the gradients gives
    shard_only = [_sgd_step_by_hand(collate(items[2 * r : 2 * r + 2]))[1] for r in (0, 1)]  # no all-reduce
    assert _max_diff(expected, w0) > 1e-2
    assert _max_diff(expected, doubled) > 1e-2
    assert min(_max_diff(expected, s) for s in shard_only) > 1e-3

    torch.manual_seed(0)
    single_loss, single_weights = _train_one_step(_model(), collate(items), tmp_path / "single")
    assert _max_diff(single_weights, expected) < 1e-5  # the Trainer's SGD step is w - lr * grad

    results = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), tmp_path / "ddp", results), nprocs=2, join=True)
    losses = [results[r][0] for r in (0, 1)]
    assert abs(sum(losses) / 2 - single_loss) < 1e-5  # mean of the shard losses == global-batch loss
    for k in expected:  # averaged gradients == global-batch gradient: the same SGD update
        assert torch.allclose(results[0][1][k], expected[k], rtol=0, atol=1e-5), k
        assert torch.equal(results[0][1][k], results[1][1][k]), k
    assert (tmp_path / "ddp" / "last.pt").exists()  # rank 0 wrote the checkpoint


def _rng_worker(rank, port, ckpt_dir, results):
    """Train one epoch with its own RNG stream, note the next draw, then resume from rank 0's last.pt."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    info = distributed.init("cpu")
    model = distributed.wrap(_model(), info)
    cfg = TrainerConfig(epochs=1, lr=LR, grad_clip=0.0, monitor="train_loss", keep_checkpoints=1)
    torch.manual_seed(100 + rank)  # what build_training does: one dropout / mask stream per rank
    Trainer(model, torch.optim.SGD(model.parameters(), lr=LR), ctc_step, cfg, ckpt_dir=ckpt_dir,
            is_main=info.is_main).fit([collate(_items(2, seed=rank))])
    expected = torch.rand(3)  # this rank's stream, right after the checkpoint
    torch.distributed.barrier()  # rank 0 has written last.pt
    torch.manual_seed(0)
    resumed = Trainer(model, torch.optim.SGD(model.parameters(), lr=LR), ctc_step, cfg, ckpt_dir=ckpt_dir,
                      is_main=info.is_main).resume()
    results[rank] = (resumed, expected, torch.rand(3))
    distributed.cleanup()


def test_resume_restores_each_ranks_own_rng_stream(tmp_path):
    """Each rank continues its own stream after --resume (before: every rank got rank 0's)."""
    results = mp.Manager().dict()
    mp.spawn(_rng_worker, args=(_free_port(), tmp_path, results), nprocs=2, join=True)
    for rank in (0, 1):
        resumed, expected, got = results[rank]
        assert resumed and torch.equal(got, expected), rank
    assert not torch.equal(results[0][1], results[1][1])  # the two streams differ, so the check can fail
    assert len(torch.load(tmp_path / "last.pt", weights_only=False)["rng_ranks"]) == 2


def _tiny_data(root):
    """manifests, feature caches and CMVN of 6 train and 5 dev utterances (random frames) in `root`."""
    import json

    from phonerec.config import ExperimentConfig
    from phonerec.features.fbank import FeatureCache, _cache_config, save_cmvn

    cfg = ExperimentConfig()
    (root / "manifests").mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 6), ("dev", 5)):
        utts = [f"spk{k}_{split}{k}" for k in range(n)]
        rows = {u: {"wav": f"/nowhere/{u}.wav", "duration": 1.0, "spk_id": u.split("_")[0],
                    "phn": "h# sh iy hh ae dcl d h#"} for u in utts}
        (root / "manifests" / f"{split}.json").write_text(json.dumps(rows))
        lengths = torch.tensor([60 + 7 * k for k in range(n)])
        FeatureCache(utts, lengths, torch.randn(int(lengths.sum()), 80, generator=g).half(),
                     _cache_config(cfg.features)).save(root / "fbank" / f"{split}.pt")
    save_cmvn({"mean": [0.0] * 80, "std": [1.0] * 80}, root / "fbank" / "cmvn.json")


TINY_CNN = ["model.name=cnn", "model.cnn.cnn_channels=[8,8]", "model.cnn.cnn_blocks=1", "train.epochs=1"]


def _dev_worker(rank, port, data, results):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from phonerec.config import load_config
    from phonerec.experiment.train import build_training

    run = build_training(load_config(None, TINY_CNN), data, data / f"exp{rank}", device="cpu")
    results[rank] = (sorted(run.dev_set.utt_ids), run.trainer.evaluate(run.model))
    distributed.cleanup()


def test_each_rank_decodes_its_share_of_dev_and_all_get_the_whole_sets_figures(tmp_path):
    """Under torchrun the dev set is split between the processes (not decoded N times), and the joined
    figures are those of one process decoding all of it with the same weights."""
    from phonerec.config import load_config
    from phonerec.experiment.train import build_training

    _tiny_data(tmp_path)
    results = mp.Manager().dict()
    mp.spawn(_dev_worker, args=(_free_port(), tmp_path, results), nprocs=2, join=True)
    single = build_training(load_config(None, TINY_CNN), tmp_path, tmp_path / "exp", device="cpu")
    whole = single.trainer.evaluate(single.model)
    shares = [results[0][0], results[1][0]]
    assert sorted(shares[0] + shares[1]) == sorted(single.dev_set.utt_ids) and not set(shares[0]) & set(shares[1])
    for rank in (0, 1):
        assert results[rank][1]["dev_per"] == whole["dev_per"]
        assert abs(results[rank][1]["dev_loss"] - whole["dev_loss"]) < 1e-5 * whole["dev_loss"]  # batching order
