"""The two PER conventions: sil merged (SpeechBrain's, the default) and optional sil (Kaldi s5)."""
import random

import pytest

from phonerec.evaluation.per import edit_alignment_optional, score
from phonerec.phones import PHONES_61, fold


def _one(ref: str, hyp: str, convention: str):
    result, _ = score({"u": ref.split()}, {"u": hyp.split()}, convention)
    return result.sub, result.dels, result.ins, result.n_ref


@pytest.mark.parametrize("ref, hyp, merged, optional", [
    # deleted reference sil: an error and in N by default; free and out of N when optional
    ("b sil aa", "b aa", (0, 1, 0, 3), (0, 0, 0, 2)),
    # inserted sil: an insertion under both conventions
    ("b aa", "sil b aa sil", (0, 0, 2, 2), (0, 0, 2, 2)),
    # matched sil: correct and counted in N under both
    ("sil b aa sil", "sil b aa sil", (0, 0, 0, 4), (0, 0, 0, 4)),
    # reference sil against another phone: one substitution by default; under sclite's weights
    # (sub 4 > free delete 0 + insert 3) a free deletion of sil plus an insertion of t
    ("b sil aa", "b t aa", (1, 0, 0, 3), (0, 0, 1, 2)),
    # h# and pau fold to one merged sil before either convention is applied
    ("h# pau b aa h#", "b ao", (0, 2, 0, 4), (0, 0, 0, 2)),
])
def test_hand_cases(ref, hyp, merged, optional):
    assert _one(ref, hyp, "sil_merged") == merged
    assert _one(ref, hyp, "sil_optional") == optional


def test_unknown_convention_is_an_error():
    with pytest.raises(ValueError, match="unknown scoring convention"):
        score({"u": ["aa"]}, {"u": ["aa"]}, "kaldi")


def _sclite_cost(ref, hyp, optional=("sil",)):
    """Independent minimum cost with sclite's weights, deletion of an optional token free."""
    prev = [3 * j for j in range(len(hyp) + 1)]
    for r in ref:
        d = 0 if r in optional else 3
        cur = [prev[0] + d]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j - 1] + (0 if r == h else 4), prev[j] + d, cur[j - 1] + 3))
        prev = cur
    return prev[-1]


def _levenshtein(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for r in ref:
        cur = [prev[0] + 1]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j - 1] + (r != h), prev[j] + 1, cur[j - 1] + 1))
        prev = cur
    return prev[-1]


def test_both_conventions_agree_with_independent_rescoring():
    rng = random.Random(3)
    sil_heavy = list(PHONES_61) + ["h#", "pau", "epi", "bcl", "tcl"] * 6
    refs, hyps = {}, {}
    for k in range(60):
        ref = [rng.choice(sil_heavy) for _ in range(rng.randint(1, 20))]
        hyp = [p if rng.random() < 0.7 else rng.choice(sil_heavy) for p in ref if rng.random() > 0.15]
        refs[f"s{k}_u"], hyps[f"s{k}_u"] = ref, hyp + [rng.choice(sil_heavy) for _ in range(rng.randint(0, 2))]
    merged, _ = score(refs, hyps)
    optional, _ = score(refs, hyps, "sil_optional")
    folded = {u: (fold(refs[u], 39), fold(hyps[u], 39)) for u in refs}
    # default: S + D + I is the unit-cost edit distance, N the folded reference length
    assert merged.sub + merged.dels + merged.ins == sum(_levenshtein(r, h) for r, h in folded.values())
    assert merged.n_ref == sum(len(r) for r, _ in folded.values())
    # optional sil: the counts are a minimum-cost sclite alignment, and only sil leave N
    assert 3 * optional.ins + 3 * optional.dels + 4 * optional.sub == sum(_sclite_cost(r, h) for r, h in folded.values())
    n_sil = sum(r.count("sil") for r, _ in folded.values())
    assert merged.n_ref - n_sil <= optional.n_ref < merged.n_ref
    for r, h in folded.values():
        pairs = edit_alignment_optional(r, h, frozenset({"sil"}))
        assert [y for _, y in pairs if y is not None] == h  # every hypothesis phone is accounted for
        kept = [x for x, _ in pairs if x is not None]
        assert [x for x in r if x != "sil"] == [x for x in kept if x != "sil"]  # only sil may vanish
