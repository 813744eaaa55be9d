"""DDP with 2 processes on CPU (gloo): the first step matches one process on the global batch."""
import os
import socket

import torch
import torch.multiprocessing as mp

from phonerec import distributed
from phonerec.config import ModelConfig
from phonerec.data import collate
from phonerec.experiment import ctc_step
from phonerec.models import build_model
from phonerec.trainer import Trainer, TrainerConfig

CFG = ModelConfig(name="lstm", lstm_hidden=16, lstm_layers=1, time_strides=[1], dropout=0.0)


def _items(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        ids = torch.randint(1, 6, (4,), generator=g)
        out.append((torch.randn(20, 8, generator=g), ids, f"u{i}"))
    return out


def _train_one_step(model, batch, ckpt_dir, is_main=True):
    cfg = TrainerConfig(epochs=1, lr=1e-2, grad_clip=1.0, monitor="train_loss", keep_checkpoints=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    trainer = Trainer(model, opt, ctc_step, cfg, ckpt_dir=ckpt_dir, is_main=is_main)
    history = trainer.fit([batch])
    return history[0]["train_loss"], {k: v.detach().clone() for k, v in distributed.unwrap(model).state_dict().items()}


def _worker(rank, port, ckpt_dir, results):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    info = distributed.init("cpu")
    torch.manual_seed(0)
    model = distributed.wrap(build_model(CFG, 8, 6), info)
    items = _items()
    shard = collate(items[2 * rank : 2 * rank + 2])  # each rank: half of the global batch
    loss, weights = _train_one_step(model, shard, ckpt_dir, is_main=info.is_main)
    results[rank] = (loss, weights)
    distributed.cleanup()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_first_step_matches_single_process(tmp_path):
    torch.manual_seed(0)
    single = build_model(CFG, 8, 6)
    loss, weights = _train_one_step(single, collate(_items()), tmp_path / "single")

    results = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), tmp_path / "ddp", results), nprocs=2, join=True)
    losses = [results[r][0] for r in (0, 1)]
    assert abs(sum(losses) / 2 - loss) < 1e-5  # mean of the shard losses == global-batch loss
    for k, v in weights.items():  # averaged gradients == global-batch gradient: same update
        assert torch.allclose(results[0][1][k], v, atol=1e-6), k
        assert torch.equal(results[0][1][k], results[1][1][k]), k
    assert (tmp_path / "ddp" / "last.pt").exists()  # rank 0 wrote the checkpoint
