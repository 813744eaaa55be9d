import pytest
import torch

from phonerec.data import BucketBatchSampler, PhoneDataset, collate, frame_labels, make_loader
from phonerec.features.fbank import FeatureCache, normalize
from phonerec.phones import PhoneTokenizer, fold

TOK = PhoneTokenizer.for_set(48)


def test_collate_pads_and_keeps_lengths():
    items = [(torch.ones(5, 3), torch.tensor([1, 2]), "a"), (torch.ones(2, 3) * 2, torch.tensor([3, 4, 5]), "b")]
    b = collate(items)
    assert b.feats.shape == (2, 5, 3) and b.targets.shape == (2, 3)
    assert b.feat_lens.tolist() == [5, 2] and b.target_lens.tolist() == [2, 3]
    assert torch.all(b.feats[1, 2:] == 0) and torch.all(b.feats[1, :2] == 2)
    assert b.targets[0].tolist() == [1, 2, 0] and b.utt_ids == ["a", "b"]


def test_bucket_sampler_budget_sorting_and_shuffle():
    lengths = [10, 50, 30, 20, 40, 60, 70, 15, 25, 35]
    s = BucketBatchSampler(lengths, max_frames=100, shuffle=True, seed=1)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(10))  # every utterance once
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 100 or len(b) == 1  # padded budget respected
    # batches are length-homogeneous: composition fixed, sorted by length
    assert sorted(map(tuple, batches)) == sorted(map(tuple, s.batches))
    orders = []
    for epoch in range(4):
        s.set_epoch(epoch)
        orders.append([tuple(b) for b in s])
    assert len(set(map(tuple, orders))) > 1  # order changes across epochs
    s.set_epoch(2)
    assert [tuple(b) for b in s] == orders[2]  # ...reproducibly (resume replays it)


def test_bucket_sampler_no_shuffle_longest_first():
    lengths = [3, 9, 5]
    s = BucketBatchSampler(lengths, max_frames=9, shuffle=False)
    assert list(s) == [[1], [2], [0]]


def test_bucket_sampler_shards_for_ddp():
    lengths = list(range(1, 12))
    ranks = [BucketBatchSampler(lengths, 12, shuffle=True, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    a, b = list(ranks[0]), list(ranks[1])
    assert len(a) == len(b) == len(ranks[0])
    covered = {i for batch in a + b for i in batch}
    assert covered == set(range(11))


# ---- PhoneDataset over a cache on disk -------------------------------------------------------
ROW = {"phn": "h# b q ae pau h#", "ground_truth_phn_ends": "800 1600 1760 3200 4000 4800", "duration": 0.3,
       "wav": "x", "spk_id": "s"}
CONFIG = {"sample_rate": 16000, "n_mels": 4, "win_ms": 25.0, "hop_ms": 10.0, "n_fft": 512}


def _disk_dataset(tmp_path, per_utterance=False, times=True):
    """A cache of 3 utterances + 2 speed copies on disk, its in-memory frames, the dataset over it."""
    g = torch.Generator().manual_seed(0)
    ids = ["a", "a-sp0.9", "b", "c", "c-sp1.1"]
    lengths = torch.tensor([31, 34, 12, 40, 28])
    feats = (torch.randn(int(lengths.sum()), 4, generator=g) * 2 + 1).half()
    FeatureCache(ids, lengths, feats, CONFIG).save(tmp_path / "train.pt")
    rows = {u: ROW if times else {**ROW, "ground_truth_phn_ends": ""} for u in ("a", "b", "c")}
    cmvn = {"mean": [0.5, -1.0, 2.0, 0.0], "std": [1.5, 2.0, 0.5, 1.0]}
    ds = PhoneDataset(FeatureCache.load(tmp_path / "train.pt"), rows, TOK, 48, cmvn, per_utterance)
    return ds, feats, lengths, cmvn


@pytest.mark.parametrize("per_utterance", [False, True])
def test_items_from_the_disk_cache_are_those_of_the_whole_split_normalised_at_once(tmp_path, per_utterance):
    """The single-file cache normalised the whole split once and sliced it: reading and normalising
    one utterance at a time must give the very same tensors (training's batches unchanged), for
    both CMVN modes, with each speed copy's frame labels."""
    ds, feats, lengths, cmvn = _disk_dataset(tmp_path, per_utterance)
    whole = normalize(feats, cmvn, lengths.tolist() if per_utterance else None)  # what the old dataset held
    offsets = (torch.cumsum(lengths, 0) - lengths).tolist()
    for i, (o, n) in enumerate(zip(offsets, lengths.tolist())):
        x, target, utt, frames = ds[i]
        assert torch.equal(x, whole[o : o + n]) and x.dtype == torch.float32, utt
        speed = 0.9 if utt == "a-sp0.9" else 1.1 if utt == "c-sp1.1" else 1.0
        assert torch.equal(frames, frame_labels(ROW, n, 160, TOK, 48, speed))
        assert target.tolist() == TOK.encode(fold(ROW["phn"].split(), 48))
    assert ds.frame_targets is not None and len(ds.frame_targets) == 5
    assert torch.equal(ds.frame_targets[1], frame_labels(ROW, 34, 160, TOK, 48, 0.9))


def test_the_dataset_reads_frames_from_disk_and_holds_none(tmp_path):
    """Catches a dataset that loads (or normalises) the whole split in memory: changing the frames
    file after the dataset is built changes what it returns."""
    ds, feats, lengths, cmvn = _disk_dataset(tmp_path)
    path = tmp_path / "train.f16"
    data = bytearray(path.read_bytes())
    data[(31 + 34) * 4 * 2 : (31 + 34 + 12) * 4 * 2] = torch.zeros(12, 4).half().numpy().tobytes()  # utterance b
    path.write_bytes(bytes(data))
    assert torch.equal(ds[2][0], normalize(torch.zeros(12, 4), cmvn))
    assert not any(torch.is_tensor(v) and v.numel() >= int(lengths.sum()) for v in vars(ds).values())


def test_drop_and_a_split_without_times(tmp_path):
    ds, feats, lengths, cmvn = _disk_dataset(tmp_path)
    ds.drop([True, False, False, True, True])
    assert ds.utt_ids == ["a", "c", "c-sp1.1"] and ds.lengths == [31, 40, 28] and len(ds.frame_targets) == 3
    x, _, utt, frames = ds[2]
    assert utt == "c-sp1.1" and torch.equal(x, normalize(feats[-28:], cmvn))
    assert torch.equal(frames, frame_labels(ROW, 28, 160, TOK, 48, 1.1))
    no_times, *_ = _disk_dataset(tmp_path / "b", times=False)
    assert no_times.frame_targets is None and len(no_times[0]) == 3


def test_a_split_where_some_utterances_have_times(tmp_path):
    """Rows without times (real speech beside synthesized speech with exact times) give frame labels that are
    all -100, ignored by the loss; the rows with times keep theirs (speed copies included). Catches a split
    that drops the frame head when one row lacks times, or one that labels such a row's frames."""
    ds, *_ = _disk_dataset(tmp_path)
    ds.rows = [ROW if u.startswith("c") else {**ROW, "ground_truth_phn_ends": ""} for u in ds.utt_ids]
    lengths = dict(zip(ds.utt_ids, ds.lengths))
    for i, utt in enumerate(ds.utt_ids):
        frames = ds.frame_targets[i]
        if utt.startswith("c"):
            speed = 1.1 if utt == "c-sp1.1" else 1.0
            assert torch.equal(frames, frame_labels(ROW, lengths[utt], 160, TOK, 48, speed)), utt
        else:
            assert frames.shape == (lengths[utt],) and torch.all(frames == -100), utt
    rows = {"a": {**ROW, "ground_truth_phn_ends": ""}, "b": ROW, "c": {**ROW, "ground_truth_phn_ends": ""}}
    mixed = PhoneDataset(ds.cache, rows, TOK, 48, ds.cmvn)
    assert mixed.n_timed == 1 and mixed.frame_targets is not None  # b alone (a and c, with their speed copies, have none)
    assert torch.all(mixed[0][3] == -100) and not torch.all(mixed[2][3] == -100)


def test_loader_workers_give_the_batches_of_the_main_process(tmp_path):
    """Each worker opens the frames file itself (the main process has it open already)."""
    ds, *_ = _disk_dataset(tmp_path)
    ds[0]  # the main process's file is open when the workers fork
    main = list(make_loader(ds, 80, shuffle=True, seed=1))
    workers = list(make_loader(ds, 80, shuffle=True, seed=1, num_workers=2))
    assert len(main) == len(workers) > 1
    for a, b in zip(main, workers):
        assert a.utt_ids == b.utt_ids and torch.equal(a.feats, b.feats)
        assert torch.equal(a.frame_targets, b.frame_targets)
