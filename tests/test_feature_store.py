"""The feature cache on disk (features.store): frames written and read one utterance at a time, an
index written last, an identity that changes with the features, and errors that name the file."""
import hashlib
import json
import os
import pickle

import numpy as np
import pytest
import torch

from phonerec.features import store
from phonerec.features.store import CacheWriter, FeatureCache, FeatureError, frames_path, identity_path

CONFIG = {"sample_rate": 16000, "n_mels": 3, "win_ms": 25.0, "hop_ms": 10.0, "n_fft": 512}


def _cache(seed=0, lengths=(4, 1, 6)) -> FeatureCache:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    feats = torch.randn(int(lengths.sum()), 3, generator=g).half()
    return FeatureCache([f"u{i}" for i in range(len(lengths))], lengths, feats, dict(CONFIG))


def test_a_saved_cache_reads_back_each_utterance_and_its_frames_are_one_raw_file(tmp_path):
    mem = _cache()
    mem.save(tmp_path / "train.pt")
    disk = FeatureCache.load(tmp_path / "train.pt")
    assert disk.utt_ids == mem.utt_ids and torch.equal(disk.lengths, mem.lengths) and disk.config == CONFIG
    for i in (2, 0, 1):  # any order: each read seeks
        assert torch.equal(disk.utterance(i), mem.utterance(i))
    raw = np.fromfile(frames_path(tmp_path / "train.pt"), dtype="<f2").reshape(-1, 3)  # no header
    assert torch.equal(torch.from_numpy(raw), mem._frames.feats)
    assert torch.equal(torch.cat(list(disk.chunks(max_frames=4))), mem._frames.feats)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.f16", "train.json", "train.pt"]  # no leftovers


def test_the_identity_json_names_settings_and_digests_and_changes_with_the_features(tmp_path):
    """<split>.json is what stage records can hash: catches an identity that stays the same when one
    frame, one utterance id or a setting changes, or a digest that is not of the bytes on disk."""
    def identity(cache, name):
        cache.save(tmp_path / name / "train.pt")
        return json.loads(identity_path(tmp_path / name / "train.pt").read_text())

    base = identity(_cache(), "a")
    assert base["config"] == CONFIG and base["utterances"] == 3 and base["n_frames"] == 11 and base["dim"] == 3
    data = frames_path(tmp_path / "a" / "train.pt").read_bytes()
    assert base["frames_blake2b"] == hashlib.blake2b(data, digest_size=32).hexdigest()  # = b2sum -l 256
    assert identity(_cache(), "same") == base  # deterministic
    one_frame = _cache()
    one_frame._frames.feats[5, 1] += 1
    assert identity(one_frame, "frame")["frames_blake2b"] != base["frames_blake2b"]
    renamed = _cache()
    renamed.utt_ids[1] = "other"
    assert identity(renamed, "renamed")["utterances_blake2b"] != base["utterances_blake2b"]
    split_differently = _cache(lengths=(5, 0, 6))  # the same frames, cut elsewhere
    changed = identity(split_differently, "cut")
    assert changed["frames_blake2b"] == base["frames_blake2b"] and changed != base
    other = _cache()
    other.config = {**CONFIG, "hop_ms": 20.0}
    assert identity(other, "config") != base
    # the index carries the same identity
    index = torch.load(tmp_path / "a" / "train.pt", weights_only=True)
    assert {k: v for k, v in index.items() if k not in ("utt_ids", "lengths")} == base


def test_an_interrupted_write_leaves_the_old_cache_and_no_temporary_file(tmp_path):
    old = _cache(seed=1)
    old.save(tmp_path / "train.pt")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RuntimeError, match="killed"):
        with CacheWriter(tmp_path / "train.pt", CONFIG, 3) as w:
            w.add("u0", torch.zeros(4, 3, dtype=torch.float16))
            raise RuntimeError("killed")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert torch.equal(FeatureCache.load(tmp_path / "train.pt").utterance(2), old.utterance(2))


def test_a_crash_between_the_frames_and_the_index_leaves_no_cache_that_looks_complete(tmp_path, monkeypatch):
    """New frames in place under the old index would be read as the old utterances: the old index is
    removed first, so the split has no cache until the new index is written."""
    _cache(seed=1).save(tmp_path / "train.pt")

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(store, "torch_save", crash)
    with pytest.raises(OSError, match="disk full"):
        _cache(seed=2).save(tmp_path / "train.pt")  # same size: only the removed index tells
    with pytest.raises(FeatureError, match="train.pt: feature cache not found"):
        FeatureCache.load(tmp_path / "train.pt")


def test_wrong_or_damaged_caches_are_errors_that_name_the_file(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(FeatureError, match="bad.pt: corrupt feature cache"):
        FeatureCache.load(tmp_path / "bad.pt")
    with pytest.raises(FeatureError, match="missing.pt: feature cache not found"):
        FeatureCache.load(tmp_path / "missing.pt")
    # the single-file cache of earlier versions: every frame in one tensor
    torch.save({"utt_ids": ["u0"], "lengths": torch.tensor([2]), "feats": torch.zeros(2, 3).half(), "config": CONFIG},
               tmp_path / "old.pt")
    with pytest.raises(FeatureError, match=r"old.pt: a feature cache in the old single-file format.*rerun the"):
        FeatureCache.load(tmp_path / "old.pt")
    _cache().save(tmp_path / "train.pt")
    frames = frames_path(tmp_path / "train.pt")
    data = frames.read_bytes()
    frames.write_bytes(data[:-2])  # truncated
    with pytest.raises(FeatureError, match=r"train.f16: 64 bytes, its index .*train.pt says 11 frames"):
        FeatureCache.load(tmp_path / "train.pt")
    frames.unlink()
    with pytest.raises(FeatureError, match="train.f16: frames file of .*train.pt not found"):
        FeatureCache.load(tmp_path / "train.pt")
    frames.write_bytes(data)
    cache = FeatureCache.load(tmp_path / "train.pt")
    frames.write_bytes(data[:20])  # shrunk after opening: a read past its end
    with pytest.raises(FeatureError, match="train.f16: frames file ends early"):
        cache.utterance(2)


def test_the_writer_refuses_frames_of_another_shape_or_type(tmp_path):
    with pytest.raises(ValueError, match="u0: features must be"):
        with CacheWriter(tmp_path / "train.pt", CONFIG, 3) as w:
            w.add("u0", torch.zeros(4, 2, dtype=torch.float16))
    with pytest.raises(ValueError, match="u0: features must be"):
        with CacheWriter(tmp_path / "train.pt", CONFIG, 3) as w:
            w.add("u0", torch.zeros(4, 3))
    assert list(tmp_path.iterdir()) == []


def test_a_loaded_cache_pickles_without_its_open_file_and_reopens_in_each_process(tmp_path):
    """DataLoader workers get the cache by pickling (spawn) or by fork: neither may share or carry
    the parent's file object."""
    _cache().save(tmp_path / "train.pt")
    cache = FeatureCache.load(tmp_path / "train.pt")
    first = cache.utterance(0)  # opens the frames file in this process
    copy = pickle.loads(pickle.dumps(cache))
    assert copy._frames._file is None and torch.equal(copy.utterance(0), first)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the inherited object must open its own file
        try:
            ok = torch.equal(cache.utterance(2), _cache().utterance(2)) and cache._frames._pid == os.getpid()
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1"
