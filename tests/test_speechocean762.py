"""speechocean762 preparation on a tiny corpus in the real layout: splits, the dev rule, phones, bad input."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from phonerec.corpora.manifest import manifest_problems
from phonerec.corpora.speechocean762 import (
    CMU_PHONES,
    CorpusError,
    find_root,
    pick_dev_speakers,
    prepare,
    to_timit_phone,
)
from phonerec.corpora.synthetic import CLOSURE_OF
from phonerec.phones import PHONES_61

# Train: three speakers in each stratum (child/adult x f/m); 15 is a child, 16 an adult (the threshold).
TRAIN_SPK = {"0101": ("f", 6), "0102": ("f", 15), "0103": ("f", 9), "0201": ("f", 16), "0202": ("f", 25),
             "0203": ("f", 30), "0301": ("m", 7), "0302": ("m", 12), "0303": ("m", 8), "0401": ("m", 19),
             "0402": ("m", 40), "0403": ("m", 21)}
TEST_SPK = {"0501": ("f", 10), "0502": ("m", 33)}
# The middle speaker of each stratum (n = 1 of N = 3: position floor(0.5 * 3) = 1).
DEV = {"0102", "0202", "0302", "0402"}
SENTENCES = ["WE CALL IT", "A BEAR"]
# Word phones as in resource/text-phone: stress digits and _B/_I/_E/_S position marks.
WORD_PHONES = {"WE": "W_B IY0_E", "CALL": "K_B AO1_I L_E", "IT": "IH2_B T_E", "A": "AH0_S", "BEAR": "B_B EH0_I R_E"}
TIMIT_PHN = {"WE CALL IT": "h# w iy kcl k ao l ih tcl t h#", "A BEAR": "h# ah bcl b eh r h#"}
KEYS = {"wav", "duration", "spk_id", "phn", "wrd", "word_starts"}


def utts_of(spk):
    return [f"0{spk}{n:04d}" for n in (1, 2)]


def write_corpus(root: Path) -> Path:
    (root / "resource").mkdir(parents=True)
    phone_lines = []
    for split, speakers in (("train", TRAIN_SPK), ("test", TEST_SPK)):
        d = root / split
        d.mkdir()
        lists = {name: [] for name in ("text", "wav.scp", "utt2spk", "spk2utt", "spk2age", "spk2gender")}
        for spk, (sex, age) in speakers.items():
            utts = utts_of(spk)
            lists["spk2age"].append(f"{spk}\t{age}")
            lists["spk2gender"].append(f"{spk}\t{sex}")
            lists["spk2utt"].append(" ".join([spk] + utts))
            for utt, sentence in zip(utts, SENTENCES):
                wav = root / "WAVE" / f"SPEAKER{spk}" / f"{utt}.WAV"
                wav.parent.mkdir(parents=True, exist_ok=True)
                sf.write(wav, np.zeros(1600, dtype=np.int16), 16000, subtype="PCM_16", format="WAV")
                lists["text"].append(f"{utt}\t{sentence}")
                lists["wav.scp"].append(f"{utt}\tWAVE/SPEAKER{spk}/{utt}.WAV")
                lists["utt2spk"].append(f"{utt} {spk}")
                # Last word first: the word index, not the line order, gives the order.
                phone_lines += [f"{utt}.{i}\t{WORD_PHONES[w]}" for i, w in reversed(list(enumerate(sentence.split())))]
        for name, lines in lists.items():
            (d / name).write_text("\n".join(lines) + "\n")
    (root / "resource" / "text-phone").write_text("\n".join(phone_lines) + "\n")
    (root / "resource" / "lexicon.txt").write_text("".join(f"{w}\t{p}\n" for w, p in WORD_PHONES.items()))
    return root


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("so762") / "speechocean762")


@pytest.fixture
def corpus(pristine, tmp_path):
    """A copy of the corpus that a test may break."""
    return Path(shutil.copytree(pristine, tmp_path / "speechocean762"))


def speakers(rows):
    return {r["spk_id"] for r in rows.values()}


def test_splits_rows_and_phones(pristine):
    manifests, report = prepare(pristine)
    assert report.problems == []
    assert {s: (c["utterances"], c["expected"], c["skipped"]) for s, c in report.counts.items()} == {
        "train": (16, None, []), "dev": (8, None, []), "test": (4, None, [])}
    assert speakers(manifests["dev"]) == DEV
    assert speakers(manifests["train"]) == set(TRAIN_SPK) - DEV and speakers(manifests["test"]) == set(TEST_SPK)
    for split, rows in manifests.items():
        assert manifest_problems(rows) == [], split
        for utt_id, row in rows.items():
            assert set(row) == KEYS
            assert utt_id.split("_", 1) == [row["spk_id"], Path(row["wav"]).stem]  # speaker_of() works
            assert Path(row["wav"]).is_absolute() and row["duration"] == pytest.approx(0.1)
    row = manifests["test"]["0501_005010001"]
    assert row["phn"] == TIMIT_PHN["WE CALL IT"] and row["wrd"] == "we call it"
    assert row["word_starts"] == "1 3 7"  # w, kcl, ih: where relabelling may put a pause
    assert manifests["train"]["0101_001010002"]["phn"] == TIMIT_PHN["A BEAR"]
    assert manifests["train"]["0101_001010002"]["word_starts"] == "1 2"


def test_cmu_phones_map_to_timit():
    assert len(CMU_PHONES) == 39 and {to_timit_phone(p) for p in CMU_PHONES} <= set(PHONES_61)
    got = [to_timit_phone(p) for p in ("AO0_I", "HH_B", "ZH", "EY2_S", "AX0_B", "K_X")]
    assert got == ["ao", "hh", "zh", "ey", None, None]  # AX is TIMIT but not CMU; _X is no mark
    # every stop and affricate has TIMIT's closure before it (a model then learns the closures TIMIT aligns)
    assert set(CLOSURE_OF) == {"p", "t", "k", "b", "d", "g", "ch", "jh"} and set(CLOSURE_OF.values()) == {
        "pcl", "tcl", "kcl", "bcl", "dcl", "gcl"}
    assert CLOSURE_OF["ch"] == "tcl" and CLOSURE_OF["jh"] == "dcl" and CLOSURE_OF["b"] == "bcl"


def test_dev_rule_strata():
    ages = {s: a for s, (_, a) in TRAIN_SPK.items()}
    genders = {s: g for s, (g, _) in TRAIN_SPK.items()}
    dev = pick_dev_speakers(ages, genders)
    assert set(dev) == DEV
    strata = {(TRAIN_SPK[s][0], TRAIN_SPK[s][1] < 16) for s in dev}  # (sex, child)
    assert strata == {("f", True), ("f", False), ("m", True), ("m", False)}
    # About 10 % per stratum, spread over the sorted ids: 20 adult women -> positions 5 and 15.
    many = {f"{i:04d}": 30 for i in range(20)}
    assert pick_dev_speakers(many, dict.fromkeys(many, "f")) == ["0005", "0015"]


def test_explicit_dev_speakers_and_parent_folder(pristine):
    manifests, _ = prepare(pristine.parent, dev_speakers=["0101", "0401"])
    assert speakers(manifests["dev"]) == {"0101", "0401"}
    assert speakers(manifests["train"]) == set(TRAIN_SPK) - {"0101", "0401"}
    with pytest.raises(CorpusError, match="0501"):  # a test speaker cannot be a dev speaker
        prepare(pristine, dev_speakers=["0501"])


def _drop_line(path: Path, start: str):
    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in lines if not line.startswith(start)))


def _missing_wav(root):
    (root / "WAVE" / "SPEAKER0101" / "001010001.WAV").unlink()
    return "001010001.WAV"


def _word_without_phones(root):
    _drop_line(root / "resource" / "text-phone", "001010001.1")
    return "word 1 'CALL' of utterance 001010001"


def _empty_phone_line(root):
    _drop_line(root / "resource" / "text-phone", "001010001.1")
    with open(root / "resource" / "text-phone", "a") as f:
        f.write("001010001.1\t\n")
    return "word 1 'CALL' of utterance 001010001"


def _text_not_in_scp(root):
    _drop_line(root / "train" / "wav.scp", "001010001")
    return "wav.scp: utterance 001010001"


def _scp_not_in_text(root):
    _drop_line(root / "train" / "text", "001010001")
    return "text: utterance 001010001"


def _wrong_rate(root):
    sf.write(root / "WAVE" / "SPEAKER0101" / "001010001.WAV", np.zeros(800, dtype=np.int16), 8000, format="WAV")
    return "001010001.WAV: sample rate 8000"


def _empty_wav(root):
    (root / "WAVE" / "SPEAKER0101" / "001010001.WAV").write_bytes(b"")
    return "001010001.WAV"


def _no_samples(root):
    sf.write(root / "WAVE" / "SPEAKER0101" / "001010001.WAV", np.zeros(0, dtype=np.int16), 16000, format="WAV")
    return "001010001.WAV: contains no samples"


def _unknown_phone(root):
    _drop_line(root / "resource" / "text-phone", "001010001.1")
    with open(root / "resource" / "text-phone", "a") as f:
        f.write("001010001.1\tK_B QQ1_I L_E\n")
    return "unknown phone 'QQ1_I'"


@pytest.mark.parametrize("breakage", [_missing_wav, _word_without_phones, _empty_phone_line, _text_not_in_scp,
                                      _scp_not_in_text, _wrong_rate, _empty_wav, _no_samples, _unknown_phone])
def test_bad_train_utterance_is_named_and_skippable(corpus, breakage):
    needle = breakage(corpus)
    with pytest.raises(CorpusError) as e:
        prepare(corpus)
    assert needle in str(e.value) and "1 problem(s)" in str(e.value)
    manifests, report = prepare(corpus, skip_bad=True)
    assert "0101_001010001" not in manifests["train"] and len(manifests["train"]) == 15
    assert report.counts["train"]["skipped"] == ["0101_001010001"]
    assert len(report.problems) == 1 and needle in report.problems[0]


def test_bad_test_utterance_needs_allow_incomplete_test(corpus):
    (corpus / "WAVE" / "SPEAKER0502" / "005020002.WAV").unlink()
    with pytest.raises(CorpusError, match="005020002.WAV"):
        prepare(corpus, skip_bad=True)
    manifests, report = prepare(corpus, allow_incomplete_test=True)
    assert len(manifests["test"]) == 3 and report.counts["test"]["skipped"] == ["0502_005020002"]


@pytest.mark.parametrize("missing", ["test", "train/spk2age", "resource/text-phone"])
def test_missing_folder_or_list_is_named(corpus, missing):
    path = corpus / missing
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(CorpusError, match=f"missing {missing}.*expected"):
        prepare(corpus)


def test_not_a_corpus(tmp_path):
    with pytest.raises(CorpusError, match="no speechocean762 corpus"):
        find_root(tmp_path)
