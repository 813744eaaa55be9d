"""The frame-classification head (train.frame_weight > 0): frame labels from the .PHN times, the
head at the input frame rate, Viterbi with a minimum duration on its posteriors, and frame_weight 0
leaving the model exactly as it was."""
import itertools
import math

import numpy as np
import pytest
import torch

from phonerec.config import ExperimentConfig, ModelConfig, to_dict
from phonerec.data import PhoneDataset, collate, frame_labels
from phonerec.decoding.timing import frame_head_segments, viterbi_spans
from phonerec.features.fbank import FeatureCache
from phonerec.models import build_model
from phonerec.phones import PhoneTokenizer

TOK = PhoneTokenizer.for_set(48)
# h# 0-800, b 800-1600, q 1600-1760, ae 1760-3200, pau 3200-4000, h# 4000-4800 (samples at 16 kHz)
ROW = {"phn": "h# b q ae pau h#", "ground_truth_phn_ends": "800 1600 1760 3200 4000 4800", "duration": 0.3,
       "wav": "x", "spk_id": "s"}


def _ids(*runs):
    return [i for p, n in runs for i in TOK.encode([p]) * n]


def test_frame_labels_fold_q_and_follow_speed_perturbation():
    """Frame t (centre t * 160 samples) takes the phone covering that sample, q's time goes to the
    previous phone (b ends at 1760), pau h# merge to one sil; a centre on a boundary stays with the
    earlier phone; frames past the end keep the last phone. At speed 0.9 centre t is original
    sample t * 144. Catches: q kept or given to the next phone, off-by-one frame, speed ignored."""
    got = frame_labels(ROW, 31, 160, TOK, 48).tolist()
    assert got == _ids(("sil", 6), ("b", 6), ("ae", 9), ("sil", 10))
    assert frame_labels(ROW, 33, 160, TOK, 48).tolist()[-3:] == _ids(("sil", 3))  # past the end
    assert frame_labels(ROW, 34, 160, TOK, 48, speed=0.9).tolist() == _ids(("sil", 6), ("b", 7), ("ae", 10),
                                                                          ("sil", 11))
    assert frame_labels({"phn": "h# b h#"}, 10, 160, TOK, 48) is None  # no times: no frame labels


def test_dataset_builds_frame_targets_per_copy_and_collate_pads_with_minus_100():
    """PhoneDataset labels `<utt>-sp0.9` with its speed, collate pads frame_targets with -100 to
    the feature length; a manifest without times gives frame_targets None."""
    cfg = {"sample_rate": 16000, "n_mels": 2, "win_ms": 25.0, "hop_ms": 10.0, "n_fft": 512}
    cache = FeatureCache(["u", "u-sp0.9"], torch.tensor([31, 34]), torch.zeros(65, 2, dtype=torch.float16), cfg)
    cmvn = {"mean": [0.0, 0.0], "std": [1.0, 1.0]}
    ds = PhoneDataset(cache, {"u": ROW}, TOK, 48, cmvn)
    assert ds.frame_targets[1].tolist() == frame_labels(ROW, 34, 160, TOK, 48, speed=0.9).tolist()
    batch = collate([ds[0], ds[1]])
    assert batch.frame_targets.shape == batch.feats.shape[:2] == (2, 34)
    assert batch.frame_targets[0, 31:].tolist() == [-100] * 3 and batch.frame_targets[0, :31].tolist() == \
        ds.frame_targets[0].tolist()
    no_times = PhoneDataset(cache, {"u": {**ROW, "ground_truth_phn_ends": ""}}, TOK, 48, cmvn)
    assert no_times.frame_targets is None and collate([no_times[0]]).frame_targets is None


def _model_cfg(name):
    small = {"crdnn": {"cnn_channels": [4, 4], "lstm_hidden": 8, "lstm_layers": 1, "proj_dim": 8},
             "lstm": {"lstm_hidden": 8, "lstm_layers": 1}, "cnn": {"cnn_channels": [4, 8], "cnn_blocks": 1}}
    return ModelConfig.from_dict({"name": name, name: small[name]})


@pytest.mark.parametrize("name", ["crdnn", "lstm", "cnn"])
def test_frame_head_is_at_the_input_frame_rate_and_absent_at_weight_0(name):
    """With the head: (N, T, C) log posteriors for T input frames (odd T: cropped, not T' * 2) while
    CTC keeps (N, T', C). Without it (frame_weight 0): no frame_head parameter, the same state-dict
    keys and initial weights as the model's own layers with the head (it is created last), and
    the same CTC output. Catches: head at the subsampled rate, weights drawn before the model's."""
    torch.manual_seed(0)
    plain = build_model(_model_cfg(name), 6, len(TOK))
    torch.manual_seed(0)
    headed = build_model(_model_cfg(name), 6, len(TOK), frame_head=True)
    x, lens = torch.randn(2, 13, 6), torch.tensor([13, 9])
    plain.eval(), headed.eval()
    lp, out_lens, flp = headed(x, lens, frames=True)
    assert flp.shape == (2, 13, len(TOK)) and lp.shape[:2] == (2, int(out_lens.max()))
    assert torch.allclose(flp.exp().sum(-1), torch.ones(2, 13), atol=1e-5)
    own = {k: v for k, v in headed.state_dict().items() if not k.startswith("frame_head.")}
    assert list(own) == list(plain.state_dict()) and not any("frame_head" in k for k in plain.state_dict())
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in own.items())
    assert torch.equal(plain(x, lens)[0], lp) and not plain.has_frame_head
    with pytest.raises(ValueError):
        plain(x, lens, frames=True)


def test_ctc_step_adds_the_weighted_frame_loss_only_when_asked():
    """ctc_step: frame_weight 0 is the CTC loss alone even when the batch has frame targets;
    > 0 adds weight x cross-entropy over the unpadded frames, and the head gets gradients."""
    from phonerec.decoding.ctc import ctc_loss
    from phonerec.experiment.train import ctc_step

    torch.manual_seed(0)
    model = build_model(_model_cfg("crdnn"), 6, len(TOK), frame_head=True).eval()
    feats = torch.randn(2, 31, 6)
    labels = frame_labels(ROW, 31, 160, TOK, 48)
    items = [(feats[0], torch.tensor(TOK.encode(["sil", "b", "ae", "sil"])), "a", labels),
             (feats[1, :25], torch.tensor(TOK.encode(["sil", "b"])), "b", labels[:25])]
    batch = collate(items)
    lp, out_lens, flp = model(batch.feats, batch.feat_lens, frames=True)
    ctc = ctc_loss(lp, out_lens, batch.targets, batch.target_lens)
    ce = -torch.cat([flp[0, torch.arange(31), labels], flp[1, torch.arange(25), labels[:25]]]).mean()
    assert torch.allclose(ctc_step(model, batch), ctc)
    loss = ctc_step(model, batch, frame_weight=0.5)
    assert torch.allclose(loss, ctc + 0.5 * ce, atol=1e-5)
    loss.backward()
    assert model.frame_head.linear.weight.grad.abs().sum() > 0


def test_ctc_step_learns_frames_only_from_utterances_with_times():
    """An utterance without times (frame labels all -100) adds nothing to the frame loss: the cross-entropy is
    the mean over the timed utterance's frames alone; a batch with no timed utterance gives the CTC loss and a
    zero gradient for the head (not nan, and the head stays in the graph, as DDP needs)."""
    from phonerec.decoding.ctc import ctc_loss
    from phonerec.experiment.train import ctc_step

    torch.manual_seed(0)
    model = build_model(_model_cfg("crdnn"), 6, len(TOK), frame_head=True).eval()
    feats = torch.randn(2, 31, 6)
    labels = frame_labels(ROW, 31, 160, TOK, 48)
    untimed = torch.full((25,), -100, dtype=torch.long)
    timed_item = (feats[0], torch.tensor(TOK.encode(["sil", "b", "ae", "sil"])), "a", labels)
    untimed_item = (feats[1, :25], torch.tensor(TOK.encode(["sil", "b"])), "b", untimed)
    batch = collate([timed_item, untimed_item])
    lp, out_lens, flp = model(batch.feats, batch.feat_lens, frames=True)
    ctc = ctc_loss(lp, out_lens, batch.targets, batch.target_lens)
    ce = -flp[0, torch.arange(31), labels].mean()
    assert torch.allclose(ctc_step(model, batch, frame_weight=0.5), ctc + 0.5 * ce, atol=1e-5)
    only_untimed = collate([untimed_item])
    lp, out_lens = model(only_untimed.feats, only_untimed.feat_lens)
    loss = ctc_step(model, only_untimed, frame_weight=0.5)
    assert torch.isfinite(loss) and torch.allclose(loss, ctc_loss(lp, out_lens, only_untimed.targets,
                                                                  only_untimed.target_lens))
    loss.backward()
    grad = model.frame_head.linear.weight.grad
    assert grad is not None and torch.all(grad == 0)


def _brute_force(lp, ids, d):
    """Best segmentation by enumeration: every phone >= d frames."""
    t_len, n = lp.shape[0], len(ids)
    best, arg = -math.inf, None
    for cuts in itertools.combinations(range(1, t_len), n - 1):
        bounds = (0, *cuts, t_len)
        if min(b - a for a, b in zip(bounds, bounds[1:])) < d:
            continue
        score = sum(lp[a:b, i].sum() for (a, b), i in zip(zip(bounds, bounds[1:]), ids))
        if score > best + 1e-12:
            best, arg = score, list(zip(bounds, bounds[1:]))
    return arg


def test_viterbi_known_path_and_minimum_duration():
    """A hand-built posterior whose path is known (a a a b b c c c), one where b is likely on one
    frame only (min 1 gives it that frame, min 2 a second frame from the cheaper neighbour), and
    random posteriors against enumeration of every segmentation. Catches: DP off by one, the
    minimum not enforced or enforced as a maximum, a wrong backtrace."""
    a, b, c = 1, 2, 3
    probs = np.full((8, 5), 0.01)
    for t, i in enumerate([a, a, a, b, b, c, c, c]):
        probs[t, i] = 0.96
    assert viterbi_spans(np.log(probs), [a, b, c], 1) == [(0, 3), (3, 5), (5, 8)]
    assert viterbi_spans(np.log(probs), [a, b, c], 2) == [(0, 3), (3, 5), (5, 8)]
    probs = np.full((8, 5), 0.01)
    for t, row in enumerate([{a: .97}, {a: .97}, {a: .9, b: .05}, {b: .97}, {c: .6, b: .3}, {c: .97}, {c: .97},
                             {c: .97}]):
        for i, p in row.items():
            probs[t, i] = p
    lp = np.log(probs)
    assert viterbi_spans(lp, [a, b, c], 1) == [(0, 3), (3, 4), (4, 8)]
    assert viterbi_spans(lp, [a, b, c], 2) == [(0, 3), (3, 5), (5, 8)]  # frame 4 costs less than frame 2
    assert viterbi_spans(lp, [a, b, c], 3) == viterbi_spans(lp, [a, b, c], 2)  # 8 frames < 3 x 3: lowered to 2
    rng = np.random.default_rng(0)
    for trial in range(30):
        lp = np.log(rng.dirichlet(np.ones(5), size=9))
        ids = list(rng.integers(1, 5, size=3))
        for d in (1, 2, 3):
            assert viterbi_spans(lp, ids, d) == _brute_force(lp, ids, d), (trial, d)
    assert viterbi_spans(lp[:4], [1, 2, 3], 2) == _brute_force(lp[:4], [1, 2, 3], 1)  # minimum lowered to fit
    with pytest.raises(ValueError):
        viterbi_spans(lp[:2], [1, 2, 3])


def test_frame_segments_put_boundaries_half_a_frame_before_the_first_frame():
    """Span [s, e) at 10 ms frames: the boundary before it is at (s - 0.5) * 10 ms; the segments tile
    [0, duration]. With frame_labels' convention this is within 5 ms of the true boundary."""
    segs = frame_head_segments([(0, 6), (6, 12), (12, 31)], ["sil", "b", "ae"], 0.01, 0.3)
    assert [(round(s, 4), round(e, 4), p) for s, e, p in segs] == [(0.0, 0.055, "sil"), (0.055, 0.115, "b"),
                                                                  (0.115, 0.3, "ae")]
    labels = frame_labels(ROW, 31, 160, TOK, 48).numpy()
    onehot = np.log(np.full((31, len(TOK)), 1e-3) + np.eye(len(TOK))[labels])
    ids = TOK.encode(["sil", "b", "ae", "sil"])
    segs = frame_head_segments(viterbi_spans(onehot, ids), ["sil", "b", "ae", "sil"], 0.01, 0.3)
    truth = [0.05, 0.11, 0.2]  # merged: b takes q's time
    assert all(abs(e - r) <= 0.005 + 1e-9 for (_, e, _), r in zip(segs, truth))


def test_model_with_head_round_trips_and_timestamps_come_from_it(tmp_path):
    """train.frame_weight > 0 stored in model.pt makes load_model build the head; Transcriber then
    takes timestamps from the frame head (10 ms boundaries: k * 10 ms - 5 ms) and align_phones too;
    a model without the head keeps CTC timestamps (20 ms output frames)."""
    from conftest import export_untrained

    from phonerec.inference.model import load_model
    from phonerec.transcribe import Transcriber

    cfg = ExperimentConfig()
    cfg.model = _model_cfg("crdnn")
    cfg.train.frame_weight = 0.5
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.features.n_mels, len(TOK), frame_head=True)
    cmvn = {"mean": [0.0] * cfg.features.n_mels, "std": [1.0] * cfg.features.n_mels}
    export_untrained(model, {"config": to_dict(cfg), "phones": TOK.phones, "cmvn": cmvn}, tmp_path)
    loaded = load_model(tmp_path, "cpu").model
    assert loaded.has_frame_head
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    tr = Transcriber(tmp_path, "cpu")
    wave = torch.randn(8000) * 0.1
    phones = ["sil", "b", "ae", "sil"]
    segs = tr.align_phones(wave, phones)
    assert [p for *_, p in segs] == phones and segs[0][0] == 0 and segs[-1][1] == pytest.approx(0.5)
    assert all(abs((e * 1000 + 5) / 10 - round((e * 1000 + 5) / 10)) < 1e-6 for _, e, _ in segs[:-1])
    t = tr.transcribe_wave(wave, "x", timestamps=True)
    assert len(t.segments) == len(t.phones) and len(t.confidence) == len(t.phones)


def test_align_split_uses_the_frame_posteriors_when_given():
    """decoding.timing.align_split with frame-head posteriors: method frame_viterbi at 10 ms frames, and on
    posteriors that follow the frame labels every boundary is within 5 ms (the CTC path, on 20 ms
    output frames, is what it uses without them). Catches the decode stage still aligning on CTC."""
    from phonerec.decoding.timing import align_split
    from phonerec.evaluation.boundaries import score_alignment

    labels = frame_labels(ROW, 31, 160, TOK, 48).numpy()
    frames = np.log(np.full((31, len(TOK)), 1e-3) + np.eye(len(TOK))[labels])
    ctc = np.log(np.full((16, len(TOK)), 1.0 / len(TOK)))  # uninformative: CTC would not find the times
    hyp = ["sil", "b", "ae", "sil"]
    segs = align_split({"u": ctc}, {"u": ROW}, {"u": hyp}, TOK, 48, 0.02, {"u": frames}, 0.01)
    assert segs["method"] == "frame_viterbi" and segs["frame_s"] == 0.01 and not segs["failed"]
    a = score_alignment(segs, {"u": ROW}, 48)
    assert a["forced"]["n_boundaries"] == 3 and a["forced"]["within_10ms_pct"] == 100.0
    assert a["forced"]["mean_abs_ms"] <= 5.0 and a["recognized"]["within_10ms_pct"] == 100.0
    assert align_split({"u": ctc}, {"u": ROW}, {"u": hyp}, TOK, 48, 0.02)["method"] == "ctc_viterbi"


def _tiny_data_with_times(data_dir, cfg, n_utts=4):
    """manifests/{train,dev}.json with .PHN ends and fbank caches of random features (T = 31)."""
    from phonerec.corpora.manifest import write_manifest
    from phonerec.features.fbank import _cache_config, save_cmvn

    g = torch.Generator().manual_seed(0)
    for split in ("train", "dev"):
        ids = [f"spk{i}_{split}{i}" for i in range(n_utts)]
        lengths = torch.full((n_utts,), 31)
        feats = torch.randn(int(lengths.sum()), cfg.features.n_mels, generator=g).half()
        FeatureCache(ids, lengths, feats, _cache_config(cfg.features)).save(data_dir / "fbank" / f"{split}.pt")
        write_manifest(data_dir / "manifests" / f"{split}.json", {u: {**ROW, "spk_id": u.split("_")[0]} for u in ids})
    n = cfg.features.n_mels
    save_cmvn({"mean": [0.0] * n, "std": [1.0] * n}, data_dir / "fbank" / "cmvn.json")


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_training_writes_the_head_only_when_frame_weight_is_set(tmp_path, weight):
    """experiment.train end to end on a tiny corpus with .PHN times: frame_weight 1 trains and stores the
    head (load_model rebuilds it from the stored config); 0 stores exactly the CTC model's keys."""
    from phonerec.config import load_config
    from phonerec.experiment.train import train
    from phonerec.inference.model import load_model

    cfg = load_config(None, ["model.name=lstm", "model.lstm.lstm_hidden=8", "model.lstm.lstm_layers=1",
                             "features.n_mels=8", "train.epochs=1", "train.warmup_steps=1",
                             f"train.frame_weight={weight}"])
    _tiny_data_with_times(tmp_path / "data", cfg)
    history = train(cfg, tmp_path / "data", tmp_path / "exp", device="cpu")
    assert len(history) == 1 and math.isfinite(history[0]["train_loss"])
    model = load_model(tmp_path / "exp", "cpu").model
    keys = list(torch.load(tmp_path / "exp" / "model.pt", weights_only=False)["model"])
    assert model.has_frame_head == (weight > 0) and any(k.startswith("frame_head.") for k in keys) == (weight > 0)
    assert [k for k in keys if not k.startswith("frame_head.")] == list(build_model(cfg.model, 8, 49).state_dict())


def test_frame_weight_without_phone_times_is_an_error(tmp_path):
    """A manifest without .PHN times would leave the head untrained and every boundary wrong: refused, naming it."""
    from phonerec.config import load_config
    from phonerec.corpora.manifest import read_manifest, write_manifest
    from phonerec.experiment.train import build_training
    from phonerec.training.trainer import TrainingError

    cfg = load_config(None, ["model.name=lstm", "model.lstm.lstm_hidden=8", "model.lstm.lstm_layers=1",
                             "features.n_mels=8", "train.frame_weight=0.5"])
    _tiny_data_with_times(tmp_path / "data", cfg)
    path = tmp_path / "data" / "manifests" / "train.json"
    rows = read_manifest(path, check_files=False)
    write_manifest(path, {u: {k: v for k, v in r.items() if k != "ground_truth_phn_ends"} for u, r in rows.items()})
    with pytest.raises(TrainingError, match=r"train\.json: train\.frame_weight is 0\.5 but the manifest has no phone times"):
        build_training(cfg, tmp_path / "data", tmp_path / "exp", device="cpu")
