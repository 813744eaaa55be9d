import gzip
import logging
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from phonerec.smoke import SmokeDataError, cifar, common, mnist, run_smoke
from phonerec.smoke.common import EpochShuffle, SmallCNN, SmokeConfig, fit_and_test, make_splits
from phonerec.training import checkpoint
from phonerec.training.trainer import Trainer, TrainerConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Two OpenMP threads on a shared 2-core box can be several times slower than one."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_idx(path, arr, code=0x08, gz=True):
    arr = np.asarray(arr)
    raw = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw += arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)


def write_mnist_idx(folder, split, n, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)
    prefix = "train" if split == "train" else "t10k"
    write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    return x, y


def pairs(*splits):
    """(image bytes, label) of several splits, sorted: compares splits regardless of order."""
    return sorted((xi.tobytes(), int(yi)) for x, y in splits for xi, yi in zip(x, y))


def as_float(x):
    return x[:, None].astype(np.float32) / 255


# ---- loaders ----------------------------------------------------------------------------
def test_idx_header_and_big_endian(tmp_path):
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 70000
    write_idx(tmp_path / "a.gz", a, code=0x0C)
    write_idx(tmp_path / "b", a.astype(np.uint8), gz=False)  # plain, not gzipped, also works
    assert np.array_equal(mnist.read_idx(tmp_path / "a.gz"), a)
    assert np.array_equal(mnist.read_idx(tmp_path / "b"), a.astype(np.uint8))


def test_mnist_idx_train_and_test(tmp_path):
    tx, ty = write_mnist_idx(tmp_path, "train", 20, 0)
    sx, sy = write_mnist_idx(tmp_path, "test", 10, 1)
    s = mnist.load(tmp_path)
    assert s.test[0].shape == (10, 1, 28, 28) and s.test[0].dtype == np.float32
    assert np.array_equal(s.test[0], as_float(sx)) and np.array_equal(s.test[1], sy)
    assert len(s.valid[1]) == 2 and len(s.train[1]) == 18  # valid comes out of train
    assert pairs(s.train, s.valid) == pairs((as_float(tx), ty))


def test_mnist_test_set_only_is_split_and_logged(tmp_path, caplog):
    sx, sy = write_mnist_idx(tmp_path, "test", 50, 0)
    with caplog.at_level(logging.WARNING):
        s = mnist.load(tmp_path, seed=0)
    assert "only a test set" in caplog.text and "40 train / 10 test" in caplog.text
    assert (len(s.train[1]), len(s.valid[1]), len(s.test[1])) == (36, 4, 10)
    assert pairs(s.train, s.valid, s.test) == pairs((as_float(sx), sy))
    again, other = mnist.load(tmp_path, seed=0), mnist.load(tmp_path, seed=1)
    assert np.array_equal(again.test[0], s.test[0]) and not np.array_equal(other.test[0], s.test[0])


def test_mnist_pickle(tmp_path):
    rng = np.random.default_rng(0)
    parts = tuple((rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)) for n in (12, 4, 5))
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(parts, f, protocol=2)
    s = mnist.load(tmp_path)
    for got, (x, y) in zip((s.train, s.valid, s.test), parts):
        assert got[0].shape == (len(y), 1, 28, 28)
        assert np.array_equal(got[0].reshape(len(y), 784), x) and np.array_equal(got[1], y)


def test_cifar_batches_in_subfolder(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name, n in [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 3)]:
        data, labels = rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist()
        batches[name] = (data, labels)
        with open(d / name, "wb") as f:  # the real files: bytes keys, labels as a list
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)
    s = cifar.load(tmp_path)
    data, labels = batches["test_batch"]
    assert s.test[0].shape == (3, 3, 32, 32) and s.test[1].tolist() == labels
    assert s.test[0][1, 2, 5, 7] == np.float32(data[1, 2 * 1024 + 5 * 32 + 7] / 255)  # R, G, B planes, row-major
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    all_x = np.concatenate([b[0] for b in train]).reshape(-1, 3, 32, 32).astype(np.float32) / 255
    assert pairs(s.train, s.valid) == pairs((all_x, sum((b[1] for b in train), [])))


def cut_gz(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage_gz(path):
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(200)))


def wrong_magic(path):
    write_idx(path, np.zeros(5, np.uint8))  # a labels file where the images belong


def truncated(path):
    write_idx(path, np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-10]))


def not_idx(path):
    path.write_bytes(b"hello, I am not an IDX file")


@pytest.mark.parametrize("damage, message", [(cut_gz, "gzip"), (garbage_gz, "gzip"), (wrong_magic, "magic"),
                                             (truncated, "truncated"), (not_idx, "not an IDX")])
def test_bad_mnist_file_is_named(tmp_path, damage, message):
    write_mnist_idx(tmp_path, "test", 5, 0)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    damage(bad)
    with pytest.raises(SmokeDataError, match=message) as e:
        mnist.load(tmp_path)
    assert str(bad) in str(e.value)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(SmokeDataError, match="no MNIST files"):
        mnist.load(tmp_path)
    write_mnist_idx(tmp_path, "test", 5, 0)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(SmokeDataError, match="t10k-labels-idx1-ubyte.gz: file not found"):
        mnist.load(tmp_path)
    (tmp_path / "mnist.pkl.gz").write_bytes(b"garbage")
    with pytest.raises(SmokeDataError, match="mnist.pkl.gz: not a readable"):
        mnist.load(tmp_path / "mnist.pkl.gz")
    (tmp_path / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(SmokeDataError, match="test_batch: not a readable CIFAR-10 batch"):
        cifar.load(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(SmokeDataError, match="test_batch: data is uint8"):
        cifar.load(tmp_path)
    with pytest.raises(SmokeDataError, match="no such data folder"):
        cifar.load(tmp_path / "nowhere")


def test_lookalikes_are_deterministic():
    for task in (mnist, cifar):
        a, b, c = task.synthetic(5, 60, 20), task.synthetic(5, 60, 20), task.synthetic(6, 60, 20)
        assert np.array_equal(a.train[0], b.train[0]) and np.array_equal(a.test[1], b.test[1])
        assert not np.array_equal(a.train[0], c.train[0])
        assert a.train[0].dtype == np.float32 and 0 <= a.train[0].min() and a.train[0].max() <= 1
        assert "NOT real" in a.source
    assert mnist.synthetic(0, 60, 20).test[0].shape[1:] == (1, 28, 28)
    assert cifar.synthetic(0, 60, 20).test[0].shape[1:] == (3, 32, 32)


# ---- training ---------------------------------------------------------------------------
def quadrant_task(n, seed):
    """Four classes: a bright square in one quadrant of a noisy 16x16 image. Linearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0.2, 0.1, (n, 1, 16, 16)).astype(np.float32)
    for i, k in enumerate(y):
        r, c = 8 * (k // 2) + rng.integers(0, 4), 8 * (k % 2) + rng.integers(0, 4)
        x[i, 0, r:r + 4, c:c + 4] += 0.8
    return np.clip(x, 0, 1), y.astype(np.int64)


def test_trainer_learns_a_separable_task_and_decays_on_plateau(tmp_path):
    splits = make_splits(quadrant_task(400, 0), quadrant_task(200, 1), seed=0, source="quadrants")
    cfg = SmokeConfig(epochs=4, batch_size=32, lr=3e-3, schedule="constant", warmup_steps=0, plateau_factor=0.5,
                      widths=(8, 16, 32))
    res = fit_and_test(splits, cfg, tmp_path, seed=0, device="cpu")
    assert res["accuracy"] >= 0.95
    h = res["history"]
    assert [r["epoch"] for r in h] == [1, 2, 3, 4] and all("valid_loss" in r and "accuracy" in r for r in h)
    assert res["best_valid"] == max(r["accuracy"] for r in h)
    best_so_far, n_bad = -1.0, 0  # ReduceLROnPlateau, patience 1: halve after every epoch without a new best
    for r in h:
        n_bad, best_so_far = (n_bad, r["accuracy"]) if r["accuracy"] > best_so_far else (n_bad + 1, best_so_far)
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert state["trainer"]["lr_scale"] == 0.5 ** n_bad
    assert (tmp_path / "checkpoints" / "best.pt").is_file() and state["smoke"]["source"] == "quadrants"


def weights(out_dir):
    return checkpoint.load(Path(out_dir) / "checkpoints" / "last.pt")


def assert_same_run(a: dict, b: dict, dir_a, dir_b):
    wa, wb = weights(dir_a), weights(dir_b)
    assert wa["model"].keys() == wb["model"].keys()
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k
    for sa, sb in zip(wa["optimizer"]["state"].values(), wb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["accuracy"] == b["accuracy"]
    drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert drop(a["history"]) == drop(b["history"])


TINY = dict(seed=3, device="cpu", n_train=300, n_test=100, widths=(8, 16, 32), batch_size=32, lr=3e-3)


@pytest.fixture
def count_scores(monkeypatch):
    """Count model scorings (one per epoch, one for test): a resumed run must not retrain its first epochs."""
    calls, real = [], common.score

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(common, "score", counted)
    return calls


def test_save_load_continue_equals_straight_run(tmp_path, count_scores):
    kw = dict(TINY, schedule="constant", warmup_steps=0, plateau_factor=0.5)
    straight = run_smoke("mnist", None, tmp_path / "straight", epochs=4, **kw)
    run_smoke("mnist", None, tmp_path / "resumed", epochs=2, **kw)
    assert weights(tmp_path / "resumed")["trainer"]["lr_scale"] == 0.5  # a plateau decay must carry over
    count_scores.clear()
    resumed = run_smoke("mnist", None, tmp_path / "resumed", epochs=4, resume=True, **kw)
    assert len(resumed["history"]) == 4 and len(count_scores) == 2 + 1  # epochs 3 and 4, then test
    assert_same_run(straight, resumed, tmp_path / "straight", tmp_path / "resumed")


def test_interrupted_cosine_run_resumes_exactly(tmp_path, monkeypatch, count_scores):
    kw = dict(TINY, schedule="cosine", warmup_steps=5)  # lr depends on the step and the planned total
    straight = run_smoke("cifar", None, tmp_path / "straight", epochs=4, **kw)
    counted = common.score

    def crash_in_epoch_3(*args, **kwargs):
        if len(count_scores) == 2:  # after epoch 2's checkpoint, before epoch 3's
            raise KeyboardInterrupt
        return counted(*args, **kwargs)

    count_scores.clear()
    monkeypatch.setattr(common, "score", crash_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run_smoke("cifar", None, tmp_path / "resumed", epochs=4, **kw)
    monkeypatch.setattr(common, "score", counted)
    assert weights(tmp_path / "resumed")["trainer"]["epoch"] == 2
    count_scores.clear()
    resumed = run_smoke("cifar", None, tmp_path / "resumed", epochs=4, resume=True, **kw)
    assert len(count_scores) == 2 + 1  # epochs 3 and 4, then test
    assert_same_run(straight, resumed, tmp_path / "straight", tmp_path / "resumed")


def test_trainer_reshuffles_every_epoch(tmp_path):
    """The trainer must call set_epoch, or every epoch sees the batches in the same order."""
    x, ids = torch.rand(12, 1, 8, 8), torch.arange(12)
    loader = DataLoader(TensorDataset(x, ids), batch_sampler=EpochShuffle(12, 4, seed=0))
    seen = []

    def loss_fn(model, batch):
        seen.extend(batch[1].tolist())
        return model(batch[0]).pow(2).mean()

    model = SmallCNN(1, 2, (4,))
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.01), loss_fn, TrainerConfig(epochs=3, lr=0.01),
                      ckpt_dir=tmp_path)
    trainer.fit(loader)
    epochs = [tuple(seen[i:i + 12]) for i in (0, 12, 24)]
    assert all(sorted(e) == list(range(12)) for e in epochs) and len(set(epochs)) == 3


def test_unknown_setting_is_an_error():
    with pytest.raises(TypeError, match="lrr"):
        run_smoke("mnist", lrr=1)
    with pytest.raises(ValueError, match="unknown smoke task"):
        run_smoke("svhn")


# ---- command line -------------------------------------------------------------------------
@pytest.fixture
def cli():
    from phonerec.commands import smoke as module  # `phonerec smoke`, scripts/smoke.py

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield module
    for h in root.handlers:  # setup_logging replaced the root handlers: put pytest's back
        if h not in handlers:
            h.close()
    root.handlers[:], root.level = handlers, level


def test_cli_trains_on_files_and_reports_errors(tmp_path, cli, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write_mnist_idx(data, "train", 120, 0)
    write_mnist_idx(data, "test", 40, 1)
    assert cli.main(["mnist", "--data", str(data), "--out", str(tmp_path / "out"), "--epochs", "1"]) == 0
    assert "mnist test accuracy" in capsys.readouterr().out
    assert (tmp_path / "out" / "checkpoints" / "best.pt").is_file() and (tmp_path / "out" / "smoke.log").is_file()
    assert cli.main(["mnist", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 1


def test_cli_without_data_says_lookalike(tmp_path, cli, capsys, monkeypatch):
    seen = {}

    def fake_run(task, data_dir, out, **kw):
        seen.update(task=task, data_dir=data_dir, **kw)
        return {"accuracy": 0.5, "best_epoch": 1, "seconds": 0.0, "source": "look-alike"}

    monkeypatch.setattr(cli, "run_smoke", fake_run)
    assert cli.main(["cifar", "--out", str(tmp_path), "--epochs", "2", "--seed", "7"]) == 0
    assert "generated look-alike" in capsys.readouterr().out
    assert seen == dict(task="cifar", data_dir=None, epochs=2, seed=7, resume=False, device=None)
