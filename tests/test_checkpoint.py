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
