"""Exact phone times without closures (synthesized speech): `phonerec relabel --keep-times` puts TIMIT's
closures in where the frame head hears them and keeps every given time; `phonerec features --cmvn` lets
a round that continues a model normalise as that model did."""
import json
import shutil

import numpy as np

from phonerec.commands import features as features_command
from phonerec.commands import relabel as relabel_command
from phonerec.experiment.closures import CLOSURE_OF, CLOSURES, split_stops

HOP = 160
CLASSES = {"h#": 0, "bcl": 1, "b": 2, "aa": 3, "tcl": 4, "t": 5, "ch": 6}


def posteriors(labels: list[str]) -> np.ndarray:
    """Frame log posteriors that are sure of one class a frame."""
    lp = np.full((len(labels), len(CLASSES)), np.log(0.01))
    for t, p in enumerate(labels):
        lp[t, CLASSES[p]] = np.log(0.9)
    return lp


def test_each_stop_is_cut_where_the_closure_turns_into_the_release():
    # frames (10 ms): h# 0-4, b's segment 5-14 (closure heard on 5-10, release on 11-14), aa 15-19, t 20-20 (one frame)
    frames = ["h#"] * 5 + ["bcl"] * 6 + ["b"] * 4 + ["aa"] * 5 + ["t"]
    lp = posteriors(frames)
    phones, ends = ["h#", "b", "aa", "t"], [720, 2380, 3180, 3360]  # b: samples 720-2380 (frames 5..14)
    out_phones, out_ends = split_stops(phones, ends, lp, CLASSES.__getitem__, HOP)
    assert out_phones == ["h#", "bcl", "b", "aa", "t"]  # the one-frame t stays whole: no room for a closure
    assert out_ends == [720, round(10.5 * HOP), 2380, 3180, 3360]  # cut half a frame before frame 11; the rest as given
    # an affricate gets its TIMIT closure; a segment of exactly two frames is cut between them
    lp = posteriors(["tcl", "ch"])
    assert split_stops(["ch"], [320], lp, CLASSES.__getitem__, HOP) == (["tcl", "ch"], [80, 320])
    assert CLOSURE_OF["jh"] == "dcl" and CLOSURE_OF["ch"] == "tcl" and CLOSURES == {"bcl", "dcl", "gcl", "pcl", "tcl", "kcl"}


def test_the_cut_never_leaves_an_empty_segment():
    lp = posteriors(["bcl", "b"])  # frame t centred on sample 160 t: b's segment [10, 170) holds frame 1 only
    phones, ends = split_stops(["h#", "b"], [10, 170], lp, CLASSES.__getitem__, HOP)
    assert phones == ["h#", "b"] and ends == [10, 170]  # kept whole
    phones, ends = split_stops(["b"], [330], posteriors(["bcl", "b", "b"]), CLASSES.__getitem__, HOP)
    assert phones == ["bcl", "b"] and 0 < ends[0] < 330


def _without_closures(row: dict) -> dict:
    """A TIMIT row as ARPAbet-style labels have it: no closure, each one's time given to the phone after it."""
    phones, ends = row["phn"].split(), row["ground_truth_phn_ends"].split()
    keep = [i for i, p in enumerate(phones) if p not in CLOSURES or i == len(phones) - 1]
    keep_phones = [phones[i] for i in keep]
    keep_ends = [ends[i] for i in keep]
    return {**row, "phn": " ".join(keep_phones), "ground_truth_phn_ends": " ".join(keep_ends)}


def test_relabel_keep_times_puts_closures_in_and_keeps_every_given_time(trained_model, tmp_path, capsys):
    """A frame-head model (untrained: where it cuts is the unit test's business) on the session corpus with its
    closures taken out of the train rows: every given end is kept, each stop long enough gets its closure
    strictly inside its segment, rows that have closures are not touched, dev/test are copied."""
    from conftest import export_tiny_frame_head

    data, ctc_exp = trained_model
    work = tmp_path / "data"
    shutil.copytree(data / "manifests", work / "manifests")
    (work / "fbank").symlink_to(data / "fbank", target_is_directory=True)
    truth = json.loads((data / "manifests" / "train.json").read_text())
    rows = {u: (_without_closures(r) if k % 2 == 0 else r) for k, (u, r) in enumerate(truth.items())}
    (work / "manifests" / "train.json").write_text(json.dumps(rows))

    export_tiny_frame_head(tmp_path / "head", json.loads((data / "fbank" / "cmvn.json").read_text()))

    out = tmp_path / "closed"
    assert relabel_command.main(["--exp", str(tmp_path / "head"), "--data", str(work), "--out", str(out),
                                 "--keep-times", "--device", "cpu"]) == 0
    assert "closures put into" in capsys.readouterr().out
    closed = json.loads((out / "manifests" / "train.json").read_text())
    assert closed.keys() == rows.keys()
    put_in = 0
    for k, (utt, row) in enumerate(closed.items()):
        if k % 2:
            assert row == rows[utt]  # had closures: left alone
            continue
        phones, ends = row["phn"].split(), [int(e) for e in row["ground_truth_phn_ends"].split()]
        given = [int(e) for e in rows[utt]["ground_truth_phn_ends"].split()]
        kept = [e for p, e in zip(phones, ends) if p not in CLOSURES]
        assert kept == given and [p for p in phones if p not in CLOSURES] == rows[utt]["phn"].split()
        assert ends == sorted(ends) and len(set(ends)) == len(ends)  # no empty segment
        for i, p in enumerate(phones):
            if p in CLOSURES:
                assert phones[i + 1] in CLOSURE_OF and CLOSURE_OF[phones[i + 1]] == p
                put_in += 1
        assert put_in  # the session corpus has stops in every sentence
    info = json.loads((out / "manifests" / "aligned.json").read_text())
    assert info["method"] == "closures_only" and info["closures_put_in"] == put_in
    assert info["with_closures_put_in"] == sum(closed[u] != rows[u] for u in rows) > 0 and info["not_in_cache"] == []
    assert (out / "manifests" / "dev.json").read_text() == (data / "manifests" / "dev.json").read_text()

    # a model without a frame head cannot: one line, exit 1, nothing written
    assert relabel_command.main(["--exp", str(ctc_exp), "--data", str(work), "--out", str(tmp_path / "no"),
                                 "--keep-times", "--device", "cpu"]) == 1
    assert "has no frame head" in capsys.readouterr().err and not (tmp_path / "no").exists()
    # a row whose ends do not match its phones is named, not cut short
    first = next(iter(rows))
    bad = {**rows, first: {**rows[first], "ground_truth_phn_ends": rows[first]["ground_truth_phn_ends"].rsplit(" ", 1)[0]}}
    (work / "manifests" / "train.json").write_text(json.dumps(bad))
    assert relabel_command.main(["--exp", str(tmp_path / "head"), "--data", str(work), "--out", str(tmp_path / "no"),
                                 "--keep-times", "--device", "cpu"]) == 1
    assert f"train row {first}" in capsys.readouterr().err and not (tmp_path / "no").exists()
    # rows without times cannot keep them
    rows_untimed = {u: {k: v for k, v in r.items() if k != "ground_truth_phn_ends"} for u, r in rows.items()}
    (work / "manifests" / "train.json").write_text(json.dumps(rows_untimed))
    assert relabel_command.main(["--exp", str(tmp_path / "head"), "--data", str(work), "--out", str(tmp_path / "no"),
                                 "--keep-times", "--device", "cpu"]) == 1
    assert "have no phone times" in capsys.readouterr().err


def test_features_cmvn_copies_the_given_statistics(trained_model, tmp_path):
    data, _ = trained_model
    work = tmp_path / "data"
    shutil.copytree(data / "manifests", work / "manifests")
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"mean": [1.5] * 80, "std": [2.0] * 80}))
    assert features_command.main(["--data", str(work), "--splits", "train", "--cmvn", str(given)]) == 0
    assert json.loads((work / "fbank" / "cmvn.json").read_text()) == {"mean": [1.5] * 80, "std": [2.0] * 80}
    assert features_command.main(["--data", str(work), "--splits", "train"]) == 0  # without: from the frames
    assert json.loads((work / "fbank" / "cmvn.json").read_text()) == json.loads((data / "fbank" / "cmvn.json").read_text())
    assert features_command.main(["--data", str(work), "--splits", "train", "--cmvn", str(tmp_path / "none.json")]) == 1
    assert features_command.main(["--data", str(work), "--splits", "dev", "--cmvn", str(given)]) == 1  # nowhere to go
    assert json.loads((work / "fbank" / "cmvn.json").read_text()) == json.loads((data / "fbank" / "cmvn.json").read_text())
