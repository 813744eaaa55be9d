"""A tree with TIMIT's full speaker structure (462 TRAIN / 168 TEST speakers, 10 utterances each,
tiny audio) and the extras a real copy carries: the standard counts, and nothing else taken as data."""
import itertools
import logging
import os
import shutil
import string
from pathlib import Path

import pytest
import soundfile as sf

from phonerec.corpora.synthetic import write_sphere
from phonerec.corpora.timit import prepare, read_speaker_list, standard_speaker_list

DEV, CORE = read_speaker_list(standard_speaker_list("dev")), read_speaker_list(standard_speaker_list("core_test"))
TRAIN_PER_DR = (38, 76, 76, 68, 70, 35, 77, 22)  # 462 speakers, as on the LDC disc
TEST_PER_DR = (11, 26, 26, 32, 28, 11, 23, 11)  # 168
UTTS = ("SA1", "SA2", "SI1001", "SI1002", "SI1003", "SX11", "SX12", "SX13", "SX14", "SX15")
SAMPLES = 400
PHN = "0 100 h#\n100 300 aa\n300 400 h#\n"
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)  # what a ._ file holds


def _speakers():
    """[(split, region, name)]: core-test speakers in their region (the core list is 3 per region,
    DR1 first); dev speakers round-robin over the regions (the repo does not record their regions
    and nothing in prepare depends on them); other names end in 9, which no listed name does."""
    names = (f"{g}{a}{b}{c}9" for a, b, c in itertools.product(string.ascii_lowercase, repeat=3) for g in "fm")
    test = {dr: CORE[3 * (dr - 1): 3 * dr] for dr in range(1, 9)}
    for i, spk in enumerate(DEV):
        test[i % 8 + 1].append(spk)
    out = [("TRAIN", dr, next(names)) for dr, n in enumerate(TRAIN_PER_DR, 1) for _ in range(n)]
    for dr, n in enumerate(TEST_PER_DR, 1):
        out += [("TEST", dr, spk) for spk in test[dr] + [next(names) for _ in range(n - len(test[dr]))]]
    return out


def _link(src: Path, dst: Path) -> None:
    """Hard links make the 12600 corpus files 15x faster than writing them; copy where links fail."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _build(base: Path) -> tuple[Path, list[Path]]:
    """Write the tree under base/TIMIT; returns (root, the non-corpus entries put in it).

    The corpus files are hard links to one wav and one .PHN: rename them, never write to them.
    """
    root = base / "TIMIT"
    write_sphere(base / "one.wav", [0, 100, -100, 0] * (SAMPLES // 4))
    (base / "one.phn").write_text(PHN)
    for split, dr, spk in _speakers():
        folder = root / split / f"DR{dr}" / spk.upper()
        folder.mkdir(parents=True)
        for utt in UTTS:
            _link(base / "one.wav", folder / f"{utt}.WAV")
            _link(base / "one.phn", folder / f"{utt}.PHN")
    # file written -> the entry the scan should ignore for it (None: the file itself)
    extras = {
        "DOC/SPKRINFO.TXT": "DOC", "README.DOC": None, ".DS_Store": None,
        "__MACOSX/TRAIN/DR1/FCJF0/._SA1.WAV": "__MACOSX",  # a Mac zip's mirror of the tree
        "TRAIN/.DS_Store": None, "TRAIN/DR1/._FAKE0": None, "TEST/DR2/.DS_Store": None,
        "TRAIN/DR1/__MACOSX/FAKE0/._SA1.WAV": "TRAIN/DR1/__MACOSX",
        "TEST/DR3/notes/todo.txt": "TEST/DR3/notes",  # a stray folder that is not a speaker
    }
    train_spk = _speakers()[0][2].upper()
    for spk_dir in (f"TRAIN/DR1/{train_spk}", f"TEST/DR1/{DEV[0].upper()}", f"TEST/DR1/{CORE[0].upper()}"):
        for junk in ("._SA1.WAV", "._SI1001.WAV", "._SX11.PHN", "._SX12.WAV.wav", ".DS_Store"):
            extras[f"{spk_dir}/{junk}"] = None
    for rel in extras:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(APPLEDOUBLE if "._" in rel else b"x\n")
    return root, sorted({root / (entry or rel) for rel, entry in extras.items()})


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("full_timit"))


@pytest.fixture(scope="module")
def core(tree):
    """prepare() on the tree, recording every full audio read (there should be none: headers only)."""
    reads = []

    def recorded(read):
        return lambda *a, **k: reads.append(a) or read(*a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sf, "read", recorded(sf.read))
        mp.setattr(sf.SoundFile, "read", recorded(sf.SoundFile.read))
        manifests, report = prepare(tree[0], DEV, CORE)
    return manifests, report, reads


def test_fixture_has_timit_speaker_structure():
    speakers = _speakers()
    assert len({s for _, _, s in speakers}) == len(speakers) == 630
    for split, per_dr in (("TRAIN", TRAIN_PER_DR), ("TEST", TEST_PER_DR)):
        assert [sum(1 for sp, dr, _ in speakers if sp == split and dr == d) for d in range(1, 9)] == list(per_dr)
    assert {(dr, s) for sp, dr, s in speakers if s in CORE} == {(i // 3 + 1, s) for i, s in enumerate(CORE)}
    assert {s for sp, _, s in speakers if sp == "TEST"} >= set(DEV) | set(CORE)


def test_full_tree_gives_3696_400_192(core):
    manifests, report, _ = core
    spk = {split: {r["spk_id"] for r in m.values()} for split, m in manifests.items()}
    assert {split: len(m) for split, m in manifests.items()} == {"train": 3696, "dev": 400, "test": 192}
    assert spk["dev"] == set(DEV) and spk["test"] == set(CORE) and len(spk["train"]) == 462
    assert report.problems == []
    assert report.counts == {
        "train": {"utterances": 3696, "expected": None, "skipped": []},
        "dev": {"utterances": 400, "expected": 400, "skipped": []},
        "test": {"utterances": 192, "expected": 192, "skipped": []},
    }
    assert not any("._" in r["wav"] or "__MACOSX" in r["wav"] for m in manifests.values() for r in m.values())


def test_prepare_reads_only_audio_headers(core):
    assert core[2] == []


def test_non_corpus_entries_are_ignored_in_one_log_line(tree, caplog):
    root, extras = tree
    with caplog.at_level(logging.INFO, logger="phonerec.corpora.timit"):
        manifests, report = prepare(root, DEV, CORE)
    lines = [r for r in caplog.records if "non-corpus" in r.getMessage()]
    assert len(lines) == 1, "one line for all of them"
    text = lines[0].getMessage()
    assert f"ignored {len(extras)} non-corpus entries" in text, extras
    for name in ("DOC", "README.DOC", "__MACOSX", ".DS_Store", "._SA1.WAV", "._SX11.PHN", "notes"):
        assert name in text
    # a folder that may be a misnamed speaker is a warning, and is named with its path
    assert lines[0].levelno == logging.WARNING and str(Path("TEST/DR3/notes")) in text
    assert "__MACOSX" not in text.split("neither a region nor a speaker")[1]  # OS folders are not suspects
    assert report.problems == [] and len(manifests["train"]) == 3696


def test_full_test_set_is_all_168_speakers_and_warns(tree, caplog):
    with caplog.at_level(logging.WARNING, logger="phonerec.corpora.timit"):
        manifests, report = prepare(tree[0], DEV, CORE, test_set="full")
    test_spk = {r["spk_id"] for r in manifests["test"].values()}
    assert len(manifests["test"]) == 1344 and len(test_spk) == 168
    assert set(manifests["dev"]) < set(manifests["test"]) and len(manifests["dev"]) == 400
    assert report.counts["test"] == {"utterances": 1344, "expected": 1344, "skipped": []}
    assert "dev and test share speakers" in caplog.text and "not comparable" in caplog.text


def test_missing_test_utterance_is_counted(tree, caplog):
    """A dev utterance gone from the copy (all its files) shows in the counts and the log."""
    root = tree[0]
    folder = next(root.glob(f"TEST/DR*/{DEV[1].upper()}"))
    moved = [(f, root.parent / f.name) for f in folder.glob("SX15.*")]
    for src, dst in moved:
        src.rename(dst)
    try:
        with caplog.at_level(logging.WARNING, logger="phonerec.corpora.timit"):
            manifests, report = prepare(root, DEV, CORE)
    finally:
        for src, dst in moved:
            dst.rename(src)
    assert report.counts["dev"] == {"utterances": 399, "expected": 400, "skipped": []}
    assert "dev: 399 utterances of 400 expected" in caplog.text and "1 not in the copy" in caplog.text
