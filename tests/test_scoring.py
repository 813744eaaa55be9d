import json

import pytest

from phonerec.evaluation.per import CONVENTIONS, read_hyp_file, score, write_hyp_file, write_score


def test_hand_computed_per(tmp_path):
    refs = {"u1": "h# b aa t h#".split(), "u2": "sh iy".split()}
    # u1 folds to "sil b aa t sil" (5); hyp "b ao d h#" folds to "b aa d sil": 1 del (sil), 1 sub (t->d)
    # u2: one insertion. PER = 3 / 7.
    hyps = {"u1": "b ao d h#".split(), "u2": "sh iy iy".split()}
    result, rows = score(refs, hyps)
    assert (result.sub, result.dels, result.ins, result.n_ref, result.n_utts) == (1, 1, 1, 7, 2)
    assert result.per == pytest.approx(100 * 3 / 7, abs=0.01)
    assert rows[0] == ("u1", pytest.approx(40.0), 1, 1, 0, 5)
    write_score(tmp_path, result, rows)
    saved = json.loads((tmp_path / "per.json").read_text())
    assert saved == {"per": 42.86, "sub": 1, "del": 1, "ins": 1, "n_ref": 7, "n_utts": 2, "convention": "sil_merged",
                     "convention_text": CONVENTIONS["sil_merged"]}
    assert "SpeechBrain" in saved["convention_text"]
    assert (tmp_path / "per_utt.txt").read_text().splitlines()[2].startswith("u1 40.00 1 1 0 5")


def test_empty_hypothesis_counts_deletions():
    result, _ = score({"u": ["aa", "b"]}, {"u": []})
    assert (result.dels, result.per) == (2, 100.0)


def test_missing_hypothesis_is_an_error():
    with pytest.raises(ValueError, match="no hypothesis"):
        score({"u": ["aa"], "v": ["b"]}, {"u": ["aa"]})


def test_hyp_file_round_trip(tmp_path):
    hyps = {"b": ["sil", "aa"], "a": []}
    write_hyp_file(tmp_path / "hyp.txt", hyps)
    assert read_hyp_file(tmp_path / "hyp.txt") == hyps
