import pytest
import torch

from phonerec.training import checkpoint


def test_average_of_identical_checkpoints_is_the_checkpoint(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    state = {"model": model.state_dict()}
    for i in range(3):
        checkpoint.save(state, tmp_path / f"e{i}.pt")
    avg = checkpoint.average_weights([tmp_path / f"e{i}.pt" for i in range(3)])
    for k, v in model.state_dict().items():
        assert torch.allclose(avg[k], v, atol=1e-7) and avg[k].dtype == v.dtype


def test_average_is_the_mean(tmp_path):
    for i, value in enumerate([1.0, 2.0, 6.0]):
        checkpoint.save({"model": {"w": torch.full((2,), value)}}, tmp_path / f"e{i}.pt")
    avg = checkpoint.average_weights(sorted(tmp_path.glob("e*.pt")))
    assert torch.allclose(avg["w"], torch.full((2,), 3.0))


def test_bad_checkpoints_give_one_line_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(checkpoint.CheckpointError, match="junk.pt: not a readable checkpoint"):
        checkpoint.load(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(checkpoint.CheckpointError, match="not a phonerec checkpoint"):
        checkpoint.load(tmp_path / "other.pt")
    with pytest.raises(checkpoint.CheckpointError, match="does not fit this model") as err:
        checkpoint.load_weights(torch.nn.Linear(2, 2), torch.nn.Linear(3, 2).state_dict(), "m.pt")
    assert "\n" not in str(err.value)


class _RunsCode:
    """Unpickling this runs a shell command: what a hostile model.pt would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_a_model_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": {"w": torch.zeros(2)}, "config": _RunsCode(marker)}, tmp_path / "model.pt")
    with pytest.raises(checkpoint.CheckpointError, match=r"model\.pt: refused: .*posix\.system.*could run code") as err:
        checkpoint.load(tmp_path / "model.pt")
    assert not marker.exists() and "\n" not in str(err.value)


def test_checkpoints_with_the_trainers_rng_state_still_load(tmp_path):
    """last.pt carries numpy's RNG state (an ndarray), python's (tuples) and torch's: all allowed."""
    import random

    import numpy as np
    rng = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(), "cuda": None}
    torch.save({"model": {"w": torch.ones(2)}, "rng": rng, "trainer": {"history": [{"epoch": 1, "dev_per": 3.5}]}},
               tmp_path / "last.pt")
    state = checkpoint.load(tmp_path / "last.pt")
    assert np.array_equal(state["rng"]["numpy"][1], rng["numpy"][1]) and state["rng"]["python"] == rng["python"]
    assert torch.equal(state["model"]["w"], torch.ones(2)) and state["trainer"]["history"][0]["dev_per"] == 3.5
