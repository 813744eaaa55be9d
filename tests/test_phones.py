import numpy as np
import pytest

from phonerec.experiment.relabel import pause_slots
from phonerec.phones import (FOLD_39, FOLD_48, PHONES_39, PHONES_48, PHONES_61, PhoneTokenizer, fold, stand_ins,
                             with_pause_slots)


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


def test_phones_a_corpus_never_labels_stand_in_with_their_39_phone_partner():
    """speechocean762's labels have no ax, ix, dx, el, en, epi: a TIMIT sequence aligned with its model
    scores each with the trained phone it folds to (the commonest one for a silence), dx with d."""
    untrained = {"ax", "ix", "dx", "el", "en", "epi"}
    counts = {p: 0 if p in untrained else 5 for p in PHONES_48}
    counts["cl"] = 9  # commoner than sil and vcl: epi (a silence) goes to it
    assert stand_ins(counts) == {"ax": "ah", "ix": "ih", "dx": "d", "el": "l", "en": "n", "epi": "cl"}
    assert stand_ins({**counts, "d": 0}) == {"ax": "ah", "ix": "ih", "el": "l", "en": "n", "epi": "cl"}  # no partner
    assert stand_ins({p: 1 for p in PHONES_48}) == {}  # a TIMIT-trained model: every phone has its own scores
    tok = PhoneTokenizer(PHONES_48, stand_ins(counts))
    assert tok.align_ids(["sil", "ax", "t"]) == tok.encode(["sil", "ah", "t"]) and tok.encode(["ax"]) != tok.encode(["ah"])


def test_an_untrained_phone_is_aligned_where_its_stand_in_is_heard():
    from phonerec.decoding.timing import align_frames

    tok = PhoneTokenizer(PHONES_48, {"ax": "ah"})
    lp = np.full((30, len(tok)), -20.0)
    (sil,), (ah,), (ax,) = (tok.encode([p]) for p in ("sil", "ah", "ax"))
    lp[:, sil] = -0.1
    lp[10:22, sil], lp[10:22, ah] = -5.0, -0.1  # the vowel is heard in frames 10-21; ax never trained (-20)
    phones = ["sil", "ax", "sil"]
    segs = align_frames(lp, tok.align_ids(phones), phones, 0.01, 0.30)
    assert [b for _, b, _ in segs] == pytest.approx([0.10, 0.22, 0.30], abs=0.011)  # within a frame
    assert [p for *_, p in segs] == phones  # reported under its own name
    plain = align_frames(lp, tok.encode(phones), phones, 0.01, 0.30)
    assert round(plain[1][1] - plain[1][0], 2) == 0.02  # without the stand-in: the minimum 20 ms anywhere


def test_pause_slots_between_words_never_next_to_a_silence():
    # words: (h#) [dh ah] [k ae t] [s] (h#); kcl folds to sil in the 39 set, to cl in the 48 set
    phones = ["h#", "dh", "ah", "kcl", "k", "ae", "t", "s", "h#"]
    word = [None, 0, 0, 1, 1, 1, 1, 2, None]
    out, out_word, slots = with_pause_slots(phones, word, 48)
    assert out == ["h#", "dh", "ah", "pau", "kcl", "k", "ae", "t", "pau", "s", "h#"]
    assert slots == [3, 8] and [out_word[k] for k in slots] == [None, None]
    assert [w for w in out_word if w is not None] == [0, 0, 1, 1, 1, 1, 2]
    out39, _, slots39 = with_pause_slots(fold(phones, 39), word, 39, "sil")
    assert slots39 == [7] and out39[7] == "sil"  # none before kcl: it is silence in the 39 set


def test_relabel_pause_slots_reoffer_a_kept_pause():
    row = {"phn": "h# dh ah k ae t s h#", "word_starts": "1 3 6"}
    phones, slots, starts = pause_slots(row, 39)
    assert phones == ["h#", "dh", "ah", "pau", "k", "ae", "t", "pau", "s", "h#"]
    assert slots == [3, 7] and starts == [1, 4, 8]
    kept = {"phn": "h# dh ah pau k ae t s h#", "word_starts": "1 4 7"}  # a relabelling kept the first pause
    assert pause_slots(kept, 39) == (phones, slots, starts)
    assert pause_slots({"phn": "h# dh ah h#"}, 39) == (["h#", "dh", "ah", "h#"], [], [])
