import json
import math

import numpy as np
import pytest

from phonerec.decoding.lm import EOS, BigramLM, LMError, load_or_estimate
from phonerec.phones import PHONES_48, PhoneTokenizer

SENTS = [["a", "b", "a"], ["b", "b"], ["a"], ["a", "c", "b"]]
PHONES = ["a", "b", "c", "d"]  # d never seen


@pytest.mark.parametrize("smoothing", ["witten_bell", "add_k"])
def test_probabilities_sum_to_one_for_every_history(smoothing):
    lm = BigramLM.estimate(SENTS, PHONES, smoothing)
    for h in ["<s>"] + PHONES:
        total = sum(lm.prob(w, h) for w in PHONES + [EOS])
        assert total == pytest.approx(1.0, abs=1e-9), h
        assert all(lm.prob(w, h) > 0 for w in PHONES + [EOS])  # smoothing leaves no zero
    assert np.allclose(np.exp(lm.logprob).sum(1), 1.0)


def test_add_k_matches_hand_counts():
    lm = BigramLM.estimate(SENTS, PHONES, "add_k", k=0.5)
    # after "a": a->b (sentence 1), a-></s> (sentences 1 and 3), a->c (sentence 4); c(a) = 4, 5 outcomes
    assert lm.prob("b", "a") == pytest.approx((1 + 0.5) / (4 + 0.5 * 5))
    assert lm.prob(EOS, "a") == pytest.approx((2 + 0.5) / (4 + 0.5 * 5))
    assert lm.prob("a", "<s>") == pytest.approx((3 + 0.5) / (4 + 0.5 * 5))


def test_witten_bell_matches_hand_computed_probabilities():
    # Interpolated Witten-Bell, for history h and next token w (a phone or </s>):
    #     P(w | h) = (c(h, w) + T(h) * P_uni(w)) / (c(h) + T(h))
    # c(h, w): bigram count, c(h) = sum_w c(h, w), T(h): number of distinct w seen after h.
    # Lower order: add-one unigram over the 5 outcomes {a, b, c, d, </s>} of the 13 bigram tokens,
    #     P_uni(w) = (c(w) + 1) / (13 + 5), c(w) = times w is the *second* token of a bigram.
    # An unseen history (c(h) = 0) gets P_uni itself.
    # Bigrams of SENTS: <s> a, a b, b a, a </s> | <s> b, b b, b </s> | <s> a, a </s> | <s> a, a c, c b, b </s>
    #     c(. , a) = 4, c(. , b) = 4, c(. , c) = 1, c(. , d) = 0, c(. , </s>) = 4: 13 tokens
    #     after a: b 1, </s> 2, c 1 -> c(a) = 4, T(a) = 3;  after <s>: a 3, b 1 -> c(<s>) = 4, T(<s>) = 2
    lm = BigramLM.estimate(SENTS, PHONES, "witten_bell")
    uni = {"a": 5 / 18, "b": 5 / 18, "c": 2 / 18, "d": 1 / 18, EOS: 5 / 18}
    assert lm.prob("b", "a") == pytest.approx((1 + 3 * uni["b"]) / (4 + 3), rel=1e-12)  # = 11/42
    assert lm.prob("b", "a") == pytest.approx(11 / 42, rel=1e-12)
    assert lm.prob(EOS, "a") == pytest.approx((2 + 3 * uni[EOS]) / 7, rel=1e-12)  # seen twice
    assert lm.prob("d", "a") == pytest.approx(3 * uni["d"] / 7, rel=1e-12)  # = 1/42: unseen after a
    assert lm.prob("a", "<s>") == pytest.approx((3 + 2 * uni["a"]) / (4 + 2), rel=1e-12)
    assert lm.prob("c", "<s>") == pytest.approx(2 * uni["c"] / 6, rel=1e-12)
    for w, p in uni.items():  # d never occurs as a history: pure unigram
        assert lm.prob(w, "d") == pytest.approx(p, rel=1e-12)


def test_witten_bell_backs_off_to_unigram_for_unseen_history():
    lm = BigramLM.estimate(SENTS, PHONES, "witten_bell")
    unigram = [lm.prob(w, "d") for w in PHONES + [EOS]]
    assert unigram[3] < unigram[0]  # unseen phone d is rarer than a
    assert lm.prob("b", "a") > lm.prob("d", "a")


def test_unknown_phone_is_an_error():
    with pytest.raises(ValueError, match="not in the LM"):
        BigramLM.estimate([["a", "zz"]], PHONES)


def test_manifest_labels_are_folded_to_the_model_set(tmp_path):
    manifest = {"spk_a": {"phn": "h# q bcl b ax-h pau h#"}, "spk_b": {"phn": "h# sh iy h#"}}
    (tmp_path / "train.json").write_text(json.dumps(manifest))
    lm = BigramLM.from_manifest(tmp_path / "train.json", list(PHONES_48))
    # 61 -> 48: h# -> sil, q dropped, bcl -> vcl, ax-h -> ah, pau -> sil
    assert lm.info["n_sentences"] == 2 and lm.info["n_tokens"] == 6 + 4
    assert lm.prob("vcl", "sil") > lm.prob("b", "sil")
    assert lm.prob("sil", "<s>") > 0.5


def test_save_load_and_matrix_in_tokenizer_order(tmp_path):
    lm = BigramLM.estimate(SENTS, PHONES)
    lm.save(tmp_path / "lm.json")
    back = BigramLM.load(tmp_path / "lm.json")
    assert np.allclose(back.logprob, lm.logprob, atol=1e-6) and back.phones == PHONES
    tok = PhoneTokenizer(["c", "a", "d", "b"])  # another order
    m = back.matrix(tok.symbols)
    a, b = tok.symbols.index("a"), tok.symbols.index("b")
    assert math.exp(m[a, b]) == pytest.approx(lm.prob("b", "a"), rel=1e-5)
    assert math.exp(m[0, a]) == pytest.approx(lm.prob("a", "<s>"), rel=1e-5)
    assert math.exp(m[b, 0]) == pytest.approx(lm.prob(EOS, "b"), rel=1e-5)
    with pytest.raises(LMError, match="differ"):
        back.matrix(PhoneTokenizer(["a", "b"]).symbols)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(LMError, match="not a bigram LM"):
        BigramLM.load(tmp_path / "bad.json")


def test_load_or_estimate_estimates_once(tmp_path):
    (tmp_path / "train.json").write_text(json.dumps({"s_1": {"phn": "h# sh iy h#"}}))
    path = tmp_path / "exp" / "lm_bigram.json"
    load_or_estimate(path, tmp_path / "train.json", list(PHONES_48))
    stamp = path.stat().st_mtime_ns
    (tmp_path / "train.json").unlink()  # a second call must not need the manifest
    lm = load_or_estimate(path, tmp_path / "train.json", list(PHONES_48))
    assert path.stat().st_mtime_ns == stamp and len(lm.phones) == 48
    with pytest.raises(LMError, match="training manifest not found"):
        load_or_estimate(tmp_path / "other.json", tmp_path / "train.json", list(PHONES_48))
