"""Preparation of TIMIT trees: layouts users have, standard splits, and bad input."""
import json
from pathlib import Path

import pytest
import soundfile as sf
from conftest import copy_tree, write_riff

from phonerec.corpora.timit import CorpusError, find_timit_root, prepare, read_speaker_list, standard_speaker_list

DEV, CORE = read_speaker_list(standard_speaker_list("dev")), read_speaker_list(standard_speaker_list("core_test"))
KEYS = {"wav", "duration", "spk_id", "phn", "wrd", "ground_truth_phn_ends"}


def _prepare(root, **kw):
    return prepare(root, DEV, CORE, **kw)


def _content(manifests):
    """Manifests without the wav paths (which differ between copies of a tree)."""
    return {s: {u: {k: v for k, v in r.items() if k != "wav"} for u, r in m.items()} for s, m in manifests.items()}


@pytest.fixture(scope="module")
def reference(timit_tree):
    manifests, report = _prepare(timit_tree)
    assert report.problems == []
    return manifests


def test_standard_splits_and_schema(reference, timit_tree):
    train, dev, test = reference["train"], reference["dev"], reference["test"]
    spk = lambda m: {r["spk_id"] for r in m.values()}
    assert len(spk(train)) == 8 and len(train) == 8 * 8  # SI + SX only
    assert spk(dev) <= set(DEV) and spk(test) <= set(CORE) and len(spk(dev)) == 8 and len(spk(test)) == 16
    assert not spk(dev) & spk(test)
    for split in (train, dev, test):
        for utt_id, row in split.items():
            assert set(row) == KEYS
            assert utt_id == f"{row['spk_id']}_{utt_id.split('_')[1]}" and utt_id == utt_id.lower()
            assert "_sa" not in utt_id  # SA sentences dropped
            assert Path(row["wav"]).is_absolute() and Path(row["wav"]).is_file()
            n = sf.info(row["wav"]).frames
            assert row["duration"] == pytest.approx(n / 16000)
            phones, ends = row["phn"].split(), row["ground_truth_phn_ends"].split()
            assert len(phones) == len(ends) and phones[0] == phones[-1] == "h#" and int(ends[-1]) <= n


def test_sa_kept_on_request_and_full_test_set(timit_tree, reference):
    manifests, _ = _prepare(timit_tree, keep_sa=True, test_set="full")
    assert len(manifests["train"]) == 8 * 10
    assert sum("_sa" in u for u in manifests["train"]) == 16
    n_test_speakers = len({r["spk_id"] for r in manifests["test"].values()})
    assert n_test_speakers == 32  # every TEST speaker, as TIMIT's 1344-utterance full test set
    assert set(reference["dev"]) < set(manifests["test"])


@pytest.mark.parametrize("variant", [
    dict(lowercase=True), dict(riff=True), dict(lowercase=True, riff=True),
    dict(riff=True, wav_suffix=".WAV.wav"), dict(riff=True, wav_suffix=".wav"),
])
def test_layout_variants_give_the_same_manifests(timit_tree, reference, tmp_path, variant):
    root = copy_tree(timit_tree, tmp_path / ("timit" if variant.get("lowercase") else "TIMIT"), **variant)
    manifests, report = _prepare(root)
    assert report.problems == []
    assert _content(manifests) == _content(reference)


def test_mixed_sphere_and_riff(timit_tree, reference, tmp_path):
    root = copy_tree(timit_tree, tmp_path / "TIMIT")
    for i, wav in enumerate(sorted(root.rglob("*.WAV"))):
        if i % 2:
            data, sr = sf.read(wav, dtype="int16")
            sf.write(wav, data, sr, subtype="PCM_16", format="WAV")
    assert _content(_prepare(root)[0]) == _content(reference)


@pytest.mark.parametrize("levels", [("TIMIT",), ("timit", "data")])
def test_root_given_too_high_is_found(timit_tree, tmp_path, levels, caplog):
    inner = tmp_path.joinpath(*levels)
    inner.mkdir(parents=True)
    for part in ("TRAIN", "TEST"):
        (inner / part).symlink_to(timit_tree / part)
    with caplog.at_level("INFO"):
        assert find_timit_root(tmp_path) == inner
    assert "found at" in caplog.text


def test_mac_zip_mirror_is_not_a_second_tree(timit_tree, tmp_path):
    """A __MACOSX (or hidden) folder mirroring TRAIN/TEST beside the tree is not searched."""
    for parent in ("TIMIT", "__MACOSX", ".Trashes"):
        for part in ("TRAIN", "TEST"):
            (tmp_path / parent).mkdir(exist_ok=True)
            (tmp_path / parent / part).symlink_to(timit_tree / part)
    assert find_timit_root(tmp_path) == tmp_path / "TIMIT"


def test_missing_root_and_missing_train_test(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        find_timit_root(tmp_path / "nope")
    (tmp_path / "a" / "b" / "c" / "TRAIN").mkdir(parents=True)
    with pytest.raises(CorpusError, match="no TRAIN and TEST"):
        find_timit_root(tmp_path)


def test_fallback_split_without_standard_speakers(timit_tree, caplog):
    with caplog.at_level("WARNING"):
        manifests, _ = prepare(timit_tree, ["fxxx0"], ["myyy0"])
    dev_spk = {r["spk_id"] for r in manifests["dev"].values()}
    test_spk = {r["spk_id"] for r in manifests["test"].values()}
    assert len(dev_spk) == len(test_spk) == 16 and not dev_spk & test_spk
    assert "fallback rule" in caplog.text


def test_missing_standard_speakers_warned(timit_tree, caplog):
    with caplog.at_level("WARNING"):
        _prepare(timit_tree)
    assert "42 of 50 dev speakers are missing" in caplog.text
    assert "8 of 24 test speakers are missing" in caplog.text


# ---- bad input ------------------------------------------------------------------------
def _one_utt(root):
    """Path stem of one TRAIN SI utterance, e.g. .../TRAIN/DR1/FXXX0/SI1234"""
    phn = sorted(root.glob("TRAIN/DR1/*/SI*.PHN"))[0]
    return phn.with_suffix("")


def _utt_id(stem):
    return f"{stem.parent.name}_{stem.name}".lower()


def _broken_copy(timit_tree, tmp_path, edit):
    root = copy_tree(timit_tree, tmp_path / "TIMIT")
    stem = _one_utt(root)
    edit(stem)
    return root, stem


def _set_phn(stem, lines):
    stem.with_suffix(".PHN").write_text("".join(f"{a} {b} {p}\n" for a, b, p in lines))


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.with_suffix(".PHN").unlink(), "has no matching .PHN"),
    (lambda s: s.with_suffix(".WAV").unlink(), "has no matching .WAV"),
    (lambda s: _set_phn(s, [(0, 100, "h#"), (100, 200, "xx")]), "unknown phone 'xx'"),
    (lambda s: _set_phn(s, [(0, 100, "h#"), (50, 80, "aa"), (100, 200, "h#")]), "overlaps"),
    (lambda s: _set_phn(s, [(100, 200, "h#"), (0, 100, "aa")]), "not sorted"),
    (lambda s: _set_phn(s, [(0, 100, "h#"), (100, 10**8, "h#")]), "past the end of the audio"),
    (lambda s: s.with_suffix(".PHN").write_text(""), "empty label file"),
    (lambda s: s.with_suffix(".WAV").write_bytes(b"NIST_1A\n   1024\ngarbage"), "not a readable audio file"),
    (lambda s: s.with_suffix(".WAV").write_text("this is not audio"), "not a readable audio file"),
    (lambda s: write_riff(s.with_suffix(".WAV"), 16000, sr=8000), "sample rate 8000"),
])
def test_bad_corpus_file_is_reported_with_its_path(timit_tree, tmp_path, edit, message):
    root, stem = _broken_copy(timit_tree, tmp_path, edit)
    with pytest.raises(CorpusError) as err:
        _prepare(root)
    text = str(err.value)
    assert message in text and stem.name in text and "--skip-bad" in text
    manifests, report = _prepare(root, skip_bad=True)  # skip mode: everything else kept
    assert len(report.problems) == 1 and message in report.problems[0]
    assert report.counts["train"] == {"utterances": 8 * 8 - 1, "expected": None, "skipped": [_utt_id(stem)]}
    assert len(manifests["train"]) == 8 * 8 - 1


def test_all_problems_listed_not_only_the_first(timit_tree, tmp_path):
    root = copy_tree(timit_tree, tmp_path / "TIMIT")
    phns = sorted(root.glob("TRAIN/*/*/SX*.PHN"))[:3]
    for p in phns:
        p.write_text("")
    with pytest.raises(CorpusError, match="3 problem"):
        _prepare(root)


def test_prepare_script_writes_manifests_and_skipped_list(timit_tree, tmp_path):
    import prepare as prepare_script

    root, stem = _broken_copy(timit_tree, tmp_path, lambda s: s.with_suffix(".PHN").write_text(""))
    out = tmp_path / "manifests"
    args = ["--timit", str(root), "--out", str(out), "--dev-spk", str(standard_speaker_list("dev")),
            "--test-spk", str(standard_speaker_list("core_test"))]
    assert prepare_script.main(args) == 1 and not out.exists()  # nothing half-written
    assert prepare_script.main(args + ["--skip-bad"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["counts.json", "dev.json", "skipped.txt", "test.json", "train.json"]
    assert stem.name in (out / "skipped.txt").read_text()
    assert len(json.loads((out / "train.json").read_text())) == 63


# ---- dev/test completeness ---------------------------------------------------------------
def _eval_stem(root, split):
    """Path stem of one SX utterance of a listed dev or core-test speaker."""
    listed = set(DEV if split == "dev" else CORE)
    return next(p for p in sorted(root.glob("TEST/*/*/SX*.PHN")) if p.parent.name.lower() in listed).with_suffix("")


@pytest.mark.parametrize("split", ["dev", "test"])
def test_bad_dev_or_test_file_needs_allow_incomplete_test(timit_tree, tmp_path, caplog, split):
    root = copy_tree(timit_tree, tmp_path / "TIMIT")
    stem = _eval_stem(root, split)
    stem.with_suffix(".PHN").write_text("")
    with pytest.raises(CorpusError, match="--allow-incomplete-test") as err:
        _prepare(root, skip_bad=True)  # --skip-bad alone never drops dev/test utterances
    assert stem.name in str(err.value) and "empty label file" in str(err.value)
    with caplog.at_level("WARNING"):
        manifests, report = _prepare(root, allow_incomplete_test=True)
    n = {"dev": 8 * 8, "test": 16 * 8}[split]
    assert len(manifests[split]) == n - 1 and _utt_id(stem) not in manifests[split]
    assert report.counts[split] == {"utterances": n - 1, "expected": {"dev": 400, "test": 192}[split],
                                    "skipped": [_utt_id(stem)]}
    assert "INCOMPLETE DEV/TEST" in caplog.text and _utt_id(stem) in caplog.text
    _one_utt(root).with_suffix(".PHN").write_text("")  # a bad train file as well:
    with pytest.raises(CorpusError, match="--skip-bad"):  # --allow-incomplete-test does not cover train
        _prepare(root, allow_incomplete_test=True)


def test_utterance_with_only_txt_and_wrd_is_a_problem(timit_tree, tmp_path):
    """TIMIT's .TXT/.WRD without .WAV and .PHN is a lost utterance, not a file to pass over."""
    root = copy_tree(timit_tree, tmp_path / "TIMIT")
    stem = _eval_stem(root, "test")
    stem.with_suffix(".WAV").unlink()
    stem.with_suffix(".PHN").unlink()
    with pytest.raises(CorpusError, match="no .WAV audio and no .PHN label file") as err:
        _prepare(root)
    assert stem.name in str(err.value)


def test_full_test_set_warns_that_dev_and_test_share_speakers(timit_tree, caplog):
    with caplog.at_level("WARNING"):
        manifests, report = _prepare(timit_tree, test_set="full")
    assert "dev and test share speakers" in caplog.text
    assert report.counts["test"]["utterances"] == len(manifests["test"]) == 32 * 8


def test_prepare_script_writes_counts(timit_tree, tmp_path):
    import prepare as prepare_script

    root = copy_tree(timit_tree, tmp_path / "TIMIT")
    stem = _eval_stem(root, "dev")
    stem.with_suffix(".WAV").write_text("not audio")
    out = tmp_path / "manifests"
    args = ["--timit", str(root), "--out", str(out), "--dev-spk", str(standard_speaker_list("dev")),
            "--test-spk", str(standard_speaker_list("core_test")), "--skip-bad"]
    assert prepare_script.main(args) == 1 and not out.exists()
    assert prepare_script.main(args + ["--allow-incomplete-test"]) == 0
    assert json.loads((out / "counts.json").read_text()) == {
        "train": {"utterances": 64, "expected": None, "skipped": []},
        "dev": {"utterances": 63, "expected": 400, "skipped": [_utt_id(stem)]},
        "test": {"utterances": 128, "expected": 192, "skipped": []},
    }
    assert stem.name in (out / "skipped.txt").read_text()
