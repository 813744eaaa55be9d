import json
import random
import sys
from pathlib import Path

import jiwer
import pytest

from phonerec.evaluation.per import analyze, edit_alignment, score, speaker_of, summary_text, write_hyp_file, write_score
from phonerec.phones import PHONES_39, PHONES_61, fold

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import score as score_script  # noqa: E402


def _random_set(seed=0, n_utts=40):
    rng = random.Random(seed)
    refs, hyps = {}, {}
    for k in range(n_utts):
        utt = f"{'fm'[k % 2]}spk{k % 7}_s{k}"
        ref = [rng.choice(PHONES_61) for _ in range(rng.randint(1, 25))]
        hyp = [p if rng.random() < 0.7 else rng.choice(PHONES_61) for p in ref if rng.random() > 0.1]
        hyp += [rng.choice(PHONES_61) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.1:
            rng.shuffle(hyp)
        refs[utt], hyps[utt] = ref, (hyp if k != 3 else [])
    return refs, hyps


def test_align_agrees_with_jiwer_counts():
    refs, hyps = _random_set(1)
    for u in refs:
        r, h = fold(refs[u], 39), fold(hyps[u], 39)
        pairs = edit_alignment(r, h)
        assert [x for x, _ in pairs if x is not None] == r and [y for _, y in pairs if y is not None] == h
        if r and h:
            o = jiwer.process_words(" ".join(r), " ".join(h))
            assert sum(1 for x, y in pairs if x and y and x != y) == o.substitutions
            assert sum(1 for _, y in pairs if y is None) == o.deletions
            assert sum(1 for x, _ in pairs if x is None) == o.insertions


def test_summary_counts_equal_the_corpus_score():
    refs, hyps = _random_set(2)
    result, rows = score(refs, hyps)
    a = analyze(refs, hyps).as_dict()
    assert {k: a[k] for k in ("per", "sub", "del", "ins", "n_ref", "n_utts", "convention")} == result.as_dict()
    assert a["corr"] + a["sub"] + a["del"] == a["n_ref"]
    spk = a["speakers"]
    assert set(spk) == {speaker_of(u) for u in refs}
    for key in ("sub", "del", "ins", "n_ref", "n_utts", "corr"):
        assert sum(s[key] for s in spk.values()) == a[key]
    phones = a["phones"]
    assert set(phones) <= set(PHONES_39)
    for key, total in (("n_ref", "n_ref"), ("sub", "sub"), ("del", "del"), ("ins", "ins"), ("corr", "corr")):
        assert sum(p[key] for p in phones.values()) == a[total]
    matrix = a["confusion_matrix"]["counts"]
    assert len(matrix) == 39 and all(len(row) == 39 for row in matrix)
    assert sum(map(sum, matrix)) == a["corr"] + a["sub"]
    assert sum(matrix[i][i] for i in range(39)) == a["corr"]
    assert sum(n for _, _, n in a["confusions"]) <= a["sub"]
    assert a["confusions"] == sorted(a["confusions"], key=lambda x: -x[2])


def test_hand_counted_analysis():
    refs = {"fa_1": "h# b aa t h#".split(), "fa_2": "sh iy".split(), "mb_1": "s ih t".split()}
    hyps = {"fa_1": "b ao d h#".split(), "fa_2": "sh iy iy".split(), "mb_1": "s ih t".split()}
    a = analyze(refs, hyps)
    assert (a.total.corr, a.total.sub, a.total.dels, a.total.ins, a.total.n_ref) == (8, 1, 1, 1, 10)
    assert a.speakers["fa"].per == pytest.approx(100 * 3 / 7, abs=0.01) and a.speakers["mb"].per == 0
    assert a.confusions() == [("t", "d", 1)]
    stats = a.phone_stats()
    assert stats["t"] == {"n_ref": 2, "corr": 1, "sub": 1, "del": 0, "ins": 0, "err_pct": 50.0}
    assert stats["sil"]["del"] == 1 and stats["iy"]["ins"] == 1
    text = summary_text(a, "test")
    assert "Sum/Avg" in text and "t -> d" in text and "| fa" in text


def test_score_script_keeps_per_json_and_adds_summaries(tmp_path, capsys):
    refs, hyps = _random_set(3, n_utts=12)
    (tmp_path / "data" / "manifests").mkdir(parents=True)
    manifest = {u: {"wav": f"/x/{u}.wav", "duration": 1.0, "spk_id": speaker_of(u), "phn": " ".join(r)}
                for u, r in refs.items()}
    (tmp_path / "data" / "manifests" / "dev.json").write_text(json.dumps(manifest))
    write_hyp_file(tmp_path / "exp" / "decode_dev" / "hyp.txt", hyps)
    assert score_script.main(["--exp", str(tmp_path / "exp"), "--data", str(tmp_path / "data"), "--splits", "dev"]) == 0
    d = tmp_path / "exp" / "decode_dev"
    per = json.loads((d / "per.json").read_text())
    result, rows = score(refs, hyps)
    optional, _ = score(refs, hyps, "sil_optional")
    assert list(per)[:7] == ["per", "sub", "del", "ins", "n_ref", "n_utts", "convention"]
    assert {k: per[k] for k in result.as_dict()} == result.as_dict()
    assert per["convention"] == "sil_merged" and per["sil_optional"]["per"] == optional.per
    assert per["sil_optional"]["n_ref"] < per["n_ref"]  # deleted reference sil are not counted under it
    write_score(tmp_path / "ref", result, rows)
    assert (d / "per_utt.txt").read_text() == (tmp_path / "ref" / "per_utt.txt").read_text()
    summary = json.loads((d / "summary.json").read_text())
    assert {k: summary[k] for k in result.as_dict()} == result.as_dict()
    text = (d / "summary.txt").read_text()
    assert f"PER {per['per']:.2f} % [sil_merged]" in text and f"N={per['n_ref']}" in text
    out = capsys.readouterr().out
    assert f"dev PER {per['per']:.2f} % [sil_merged]" in out and f"sil_optional: PER {optional.per:.2f} %" in out
