import pytest

from phonerec.phones import FOLD_39, FOLD_48, PHONES_39, PHONES_48, PHONES_61, PhoneTokenizer, fold


def test_phone_set_sizes():
    assert len(PHONES_61) == 61 and len(set(PHONES_61)) == 61
    assert len(PHONES_48) == 48
    assert len(PHONES_39) == 39


@pytest.mark.parametrize("phone", PHONES_61)
def test_every_61_phone_folds(phone):
    if phone == "q":
        assert fold([phone], 48) == [] and fold([phone], 39) == []
    else:
        assert fold([phone], 48) == [FOLD_48[phone]]
        assert fold([phone], 39) == [FOLD_39[phone]]
        assert fold(fold([phone], 48), 39) == [FOLD_39[phone]]  # 61->48->39 == 61->39


def test_known_foldings():
    assert fold(["ao", "ax-h", "axr", "hv", "ux", "zh", "el", "en", "nx", "eng", "ix"], 39) == \
        ["aa", "ah", "er", "hh", "uw", "sh", "l", "n", "n", "ng", "ih"]
    closures = ["bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "epi", "pau", "h#"]
    assert fold(closures, 39) == ["sil"]  # all silence-like, merged into one
    assert fold(["bcl", "pcl", "epi", "h#"], 48) == ["vcl", "cl", "epi", "sil"]


def test_consecutive_sil_merged_only_for_39():
    seq = ["h#", "pau", "s", "tcl", "kcl", "h#"]
    assert fold(seq, 39) == ["sil", "s", "sil"]
    assert fold(seq, 48) == ["sil", "sil", "s", "cl", "cl", "sil"]


def test_unknown_phone_raises():
    with pytest.raises(ValueError, match="xx"):
        fold(["aa", "xx"], 39)


def test_tokenizer_blank_zero_and_round_trip():
    tok = PhoneTokenizer.for_set(48)
    assert len(tok) == 49 and tok.symbols[0] == "<blank>"
    ids = tok.encode(["sil", "aa", "vcl"])
    assert 0 not in ids
    assert tok.decode([0] + ids + [0]) == ["sil", "aa", "vcl"]
    with pytest.raises(ValueError, match="q"):
        tok.encode(["q"])
