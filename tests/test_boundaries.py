"""Phone boundary accuracy (phonerec.evaluation.boundaries): the metric, the folding rule, the recognized
pairing, .PHN times read back, CTC Viterbi segments, and alignment.json from the score stage."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from phonerec.corpora.manifest import read_manifest
from phonerec.corpora.timit import Utterance, manifest_row
from phonerec.decoding.timing import align_ctc
from phonerec.evaluation.boundaries import boundary_metric, forced_errors, recognized_errors
from phonerec.segments import merge_segments, reference_segments
from phonerec.textgrid import format_phn

KEYS = {"within_10ms_pct", "within_20ms_pct", "within_30ms_pct", "mean_abs_ms", "median_abs_ms", "n_boundaries"}


def _segs(bounds, labels):
    return list(zip(bounds, bounds[1:], labels))


def test_metric_on_a_known_pair():
    ref = _segs([0, 0.1, 0.25, 0.4, 0.5], "abcd")
    hyp = _segs([0, 0.105, 0.27, 0.44, 0.5], "abcd")  # errors 5, 20, 40 ms; file start/end not counted
    m = boundary_metric(forced_errors(ref, hyp))
    assert set(m) == KEYS
    assert m == {"within_10ms_pct": 33.33, "within_20ms_pct": 66.67, "within_30ms_pct": 66.67,
                 "mean_abs_ms": 21.67, "median_abs_ms": 20.0, "n_boundaries": 3}  # 20 ms is within 20 ms
    assert boundary_metric([])["n_boundaries"] == 0 and boundary_metric([])["within_20ms_pct"] is None
    with pytest.raises(ValueError):
        forced_errors(ref, _segs([0, 0.1, 0.25, 0.4, 0.5], "abce"))


def test_fold_merge_and_q_rule():
    segs = [(0, .1, "h#"), (.1, .2, "pau"), (.2, .25, "q"), (.25, .3, "iy"), (.3, .35, "q"), (.35, .4, "ix"),
            (.4, .5, "h#")]
    # h# pau -> one sil; each q's time goes to the segment before it
    assert merge_segments(segs, 48) == [(0, .25, "sil"), (.25, .35, "iy"), (.35, .4, "ix"), (.4, .5, "sil")]
    assert merge_segments(segs, 61) == [(0, .1, "h#"), (.1, .25, "pau"), (.25, .35, "iy"), (.35, .4, "ix"),
                                        (.4, .5, "h#")]  # q dropped on 61 phones too
    assert merge_segments([(0, .1, "ix"), (.1, .15, "q"), (.15, .2, "ix")], 48) == [(0, .2, "ix")]
    assert merge_segments([(0, .05, "q"), (.05, .1, "ae"), (.1, .2, "bcl")], 48) == [(0, .1, "ae"), (.1, .2, "vcl")]


def test_recognized_pairs_only_correct_adjacent_phones():
    ref = _segs([0, .1, .2, .3, .4, .5], ["sil", "b", "ae", "t", "sil"])
    hyp = _segs([0, .11, .22, .28, .41, .5], ["sil", "b", "eh", "t", "sil"])  # ae -> eh substituted
    errors, n_ref = recognized_errors(ref, hyp)
    assert n_ref == 4 and np.allclose(errors, [.01, .01])  # sil|b and t|sil; b|ae and ae|t not counted
    hyp = _segs([0, .1, .2, .28, .31, .4, .5], ["sil", "b", "ae", "k", "t", "sil"])  # k inserted
    errors, _ = recognized_errors(ref, hyp)
    assert np.allclose(errors, [0, 0, 0])  # ae|t is split by the insertion: not counted


def test_phn_times_read_back_equal(tmp_path):
    """A .PHN written from known sample boundaries, through prepare's manifest_row, gives them back."""
    ends = [1234, 2000, 3333, 5000, 8000]
    segs = _segs([0] + [e / 16000 for e in ends], ["h#", "q", "b", "ax", "h#"])
    (tmp_path / "SA1.PHN").write_text(format_phn(segs, 16000))
    sf.write(tmp_path / "SA1.WAV", np.zeros(8000, dtype=np.int16), 16000, subtype="PCM_16", format="WAV")
    row = manifest_row(Utterance("test", "dr1", "fak0", "sa1", tmp_path / "SA1.WAV", tmp_path / "SA1.PHN"))
    assert row["ground_truth_phn_ends"] == " ".join(map(str, ends))
    assert reference_segments(row) == segs


def test_viterbi_segments_of_a_hand_built_posterior():
    """Blank, a, b over 10 frames of 20 ms: a spikes at frames 2-3, b at 6-7, blanks elsewhere."""
    path = [0, 0, 1, 1, 0, 0, 2, 2, 0, 0]
    lp = np.log(np.full((10, 3), 0.05) + np.eye(3)[path] * 0.85)
    segs = align_ctc(lp, [1, 2], ["a", "b"], 0.02, 0.2)
    # the blank gap (frames 4-5) is split at its middle: ((4 + 6) / 2 - 0.5) * 20 ms = 90 ms
    assert segs == [(0.0, pytest.approx(0.09), "a"), (pytest.approx(0.09), 0.2, "b")]


def test_score_stage_writes_alignment_json(trained_model, tmp_path, capsys):
    """End to end on the session model: decode writes segments.json, score writes alignment.json;
    the CTC forced alignment beats spreading the same phones evenly over the file."""
    from phonerec.commands import score

    data, exp_src = trained_model
    exp = tmp_path / "exp"
    shutil.copytree(exp_src, exp)
    assert score.main(["--exp", str(exp), "--data", str(data), "--splits", "test"]) == 0
    a = json.loads((exp / "decode_test" / "alignment.json").read_text())
    assert set(a["forced"]) == KEYS and set(a["recognized"]) == KEYS and a["method"] == "ctc_viterbi"
    assert "test boundaries: forced" in capsys.readouterr().out
    manifest = read_manifest(data / "manifests" / "test.json", check_files=False)
    uniform = []
    for row in manifest.values():
        ref = merge_segments(reference_segments(row), 48)
        bounds = np.linspace(0, row["duration"], len(ref) + 1)
        uniform += forced_errors(ref, _segs(list(bounds), [p for *_, p in ref]))
    baseline = boundary_metric(uniform)
    f, r = a["forced"], a["recognized"]
    print(f"forced {f}, recognized {r}, uniform {baseline}, unaligned {a['unaligned_utterances']}")
    assert f["n_boundaries"] == baseline["n_boundaries"] == a["n_reference_boundaries"]
    assert f["within_20ms_pct"] >= 60  # measured 71.5 (uniform 10.9)
    assert f["within_20ms_pct"] > baseline["within_20ms_pct"] + 20 and f["mean_abs_ms"] < baseline["mean_abs_ms"] / 3
    assert 0 < r["n_boundaries"] <= f["n_boundaries"]


def test_too_short_utterances_are_counted_not_dropped():
    """align_split + score_alignment on hand-built posteriors: one utterance with a known path,
    one with 2 frames for 4 phones (reported as unaligned, its boundaries still in the total)."""
    from phonerec.decoding.timing import align_split
    from phonerec.evaluation.boundaries import score_alignment
    from phonerec.phones import PhoneTokenizer

    tok = PhoneTokenizer.for_set(48)
    row = {"phn": "h# b ae h#", "ground_truth_phn_ends": "1600 3200 4800 6400", "duration": 0.4}
    path = np.repeat(tok.encode(["sil", "b", "ae", "sil"]), 5)  # 5 frames of 20 ms each, no blanks
    lp = np.log(np.full((20, len(tok)), 0.01) + np.eye(len(tok))[path])
    segs = align_split({"u1": lp, "u2": lp[:2]}, {"u1": row, "u2": row}, {"u1": ["sil", "b", "ae", "sil"]},
                       tok, 48, 0.02)
    assert list(segs["failed"]) == ["u2"] and segs["utts"]["u2"]["forced"] is None
    a = score_alignment(segs, {"u1": row, "u2": row}, 48)
    # boundaries at (5 - 0.5) * 20 ms = 90, 190, 290 ms against 100, 200, 300: all 10 ms early
    assert a["forced"] == {"within_10ms_pct": 100.0, "within_20ms_pct": 100.0, "within_30ms_pct": 100.0,
                           "mean_abs_ms": 10.0, "median_abs_ms": 10.0, "n_boundaries": 3}
    assert a["recognized"]["n_boundaries"] == 3
    assert a["unaligned_utterances"] == {"forced": 1, "recognized": 0} and a["n_reference_boundaries"] == 6
