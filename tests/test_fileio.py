"""Files written atomically get the mode any new file gets (0666 less the umask), not mkstemp's 0600."""
import os
import stat

import pytest
import torch

from phonerec.fileio import torch_save, write_json, write_text
from phonerec.training import checkpoint


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_follow_the_umask(tmp_path, umask):
    write_text(tmp_path / "a.txt", "x")
    write_json(tmp_path / "a.json", {"a": 1})
    checkpoint.save({"model": {"w": torch.zeros(2)}}, tmp_path / "model.pt")
    want = 0o666 & ~umask
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {"a.txt": want, "a.json": want, "model.pt": want}
    assert os.umask(umask) == umask  # the check did not change the process's umask


def test_a_replaced_file_takes_the_new_mode_and_leaves_no_temporary(tmp_path, umask):
    target = tmp_path / "r.txt"
    target.write_text("old")
    target.chmod(0o600)
    write_text(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_the_same_tensors_give_the_same_bytes_wherever_they_are_saved(tmp_path):
    """A model file's sha256 (the bundled model's card, stage records' digests) depends only on what it holds:
    torch.save to a path names the archive inside after the (random) temporary file."""
    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "config": {"a": 1}}
    torch_save(state, tmp_path / "a.pt")
    (tmp_path / "b").mkdir()
    torch_save(state, tmp_path / "b" / "model.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt")["model"]["w"], state["model"]["w"])
