"""scripts/peer_benchmark.py: the CMU -> 39 phone map, closure merging, the scoring of a known
hypothesis (hand-computed PERs), the table; phonerec's side end to end with a tiny model; and,
where the PocketSphinx environment (.venv-peer) exists, PocketSphinx's side on the synthetic corpus."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from phonerec.phones import PHONES_39

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import peer_benchmark as pb  # noqa: E402


def test_cmu_phones_map_into_the_39_set():
    mapped = pb.cmu_to_39(sorted(pb.CMU_PHONES))
    assert set(mapped) <= set(PHONES_39) and "sil" not in mapped
    assert len(mapped) == 39 and len(set(mapped)) == 37  # ao -> aa and zh -> sh: 37 distinct
    assert pb.cmu_to_39(["AO", "ZH", "HH", "ER"]) == ["aa", "sh", "hh", "er"]


def test_sil_and_fillers_become_one_sil():
    phones = ["SIL", "HH", "AH", "+NSN+", "L", "OW", "SIL", "+SPN+", "+BREATH+", "SIL"]
    assert pb.cmu_to_39(phones) == ["sil", "hh", "ah", "sil", "l", "ow", "sil"]


def test_unknown_phone_is_an_error():
    with pytest.raises(ValueError, match="'XX'"):
        pb.cmu_to_39(["SIL", "XX"])


def test_closures_merge_into_their_release_only():
    assert pb.merge_closures(["h#", "tcl", "t", "ah", "kcl", "pau", "dcl", "jh", "vcl", "b", "cl"]) == \
        ["h#", "t", "ah", "kcl", "pau", "jh", "b", "cl"]
    assert pb.has_closures({"a": ["h#", "k", "kcl"]}) and not pb.has_closures({"a": ["h#", "k", "pau"]})


def test_known_hypothesis_scores_as_computed_by_hand():
    # reference folds to  sil dh ah sil k ae t sil  (h# and kcl -> sil)
    # hypothesis          sil d  ah     k ae ae t    (PocketSphinx phones)
    refs = {"spk0_a": ["h#", "dh", "ah", "kcl", "k", "ae", "t", "h#"]}
    hyps = {"spk0_a": pb.cmu_to_39(["SIL", "D", "AH", "K", "AE", "AE", "T"])}
    s = pb.score_all(refs, hyps)
    # without sil: dh ah k ae t (N 5) against d ah k ae ae t: dh -> d, one ae inserted = 2 / 5
    assert (s["without_sil"].sub, s["without_sil"].dels, s["without_sil"].ins, s["without_sil"].n_ref) == (1, 0, 1, 5)
    assert s["without_sil"].per == 40.0 and s["without_sil"].convention == "without_sil"
    # sil optional: the first sil matched (in N), the other two deleted for free: 2 errors / N 6
    assert (s["sil_optional"].sub, s["sil_optional"].dels, s["sil_optional"].ins, s["sil_optional"].n_ref) == (1, 0, 1, 6)
    assert s["sil_optional"].per == 33.33
    # sil merged: both unmatched sil are deletions: 1 sub + 2 del + 1 ins over N 8
    assert (s["sil_merged"].sub + s["sil_merged"].dels + s["sil_merged"].ins, s["sil_merged"].n_ref) == (4, 8)
    assert s["sil_merged"].per == 50.0


def _metric(pct, mean, n):
    return {"within_20ms_pct": pct, "mean_abs_ms": mean, "n_boundaries": n}


def test_table_shows_both_systems_and_the_boundaries():
    scores = lambda a, b: {"sil_optional": {"per": a}, "without_sil": {"per": b}}  # noqa: E731
    result = {"corpus": {"root": "/data/lj", "utterances": 385, "speakers": 1, "audio_s": 2502.0},
              "systems": [{"system": "PocketSphinx 5.1.1 allphone", "scores": scores(46.4, 49.0),
                           "speed": {"rtf_cpu": 0.13, "rtf_wall": 0.14}},
                          {"system": "phonerec (exp/x)", "scores": scores(20.5, 22.25), "closures_merged": True,
                           "speed": {"rtf_cpu": 0.05, "rtf_wall": 0.05},
                           "boundaries": {"all": _metric(80.0, 12.5, 100), "before_stop": _metric(60.0, 20.0, 10),
                                          "other": _metric(82.22, 11.67, 90), "failed": {}}}]}
    text = pb.format_table(result)
    lines = text.splitlines()
    assert "385 utterances" in lines[0] and "41.7 min" in lines[0]
    ps = next(x for x in lines if x.startswith("PocketSphinx"))
    assert "46.40 %" in ps and "49.00 %" in ps and "0.130" in ps
    ours = next(x for x in lines if x.startswith("phonerec (exp/x) "))
    assert "20.50 %" in ours and "22.25 %" in ours
    assert "80.0 % within 20 ms, mean |dev| 12.5 ms (100 boundaries)" in text
    assert "before a stop or affricate: 60.0 %" in text and "closures merged" in text


def test_phonerec_side_end_to_end(timit_tree, tmp_path):
    """A tiny untrained model: every figure present, and the counts agree with the corpus."""
    from conftest import export_tiny_model

    export_tiny_model(tmp_path / "exp")
    out = tmp_path / "peer.json"
    assert pb.main(["--timit", str(timit_tree), "--limit", "3", "--model", str(tmp_path / "exp"),
                    "--no-pocketsphinx", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["corpus"]["utterances"] == 3 and r["corpus"]["reference_closures"] is True
    (ours,) = r["systems"]
    assert not ours["closures_merged"] and ours["phone_set"] == 48
    assert set(ours["scores"]) == {"sil_optional", "without_sil", "sil_merged"}
    assert ours["scores"]["sil_optional"]["n_utts"] == 3 and ours["speed"]["rtf_cpu"] > 0
    b = ours["boundaries"]
    assert b["all"]["n_boundaries"] == b["before_stop"]["n_boundaries"] + b["other"]["n_boundaries"] > 0
    assert len(ours["hyps"]) == 3


def _peer_python():
    python = pb.PEER_VENV / "bin" / "python"
    if not python.exists():
        return None
    ok = subprocess.run([str(python), "-c", "import pocketsphinx"], capture_output=True).returncode == 0
    return python if ok else None


@pytest.mark.skipif(_peer_python() is None, reason=f"PocketSphinx environment not made ({pb.PEER_SETUP})")
def test_pocketsphinx_side(timit_tree, tmp_path):
    """PocketSphinx decodes the synthetic corpus (SPHERE audio, converted) and is scored."""
    out = tmp_path / "peer.json"
    cache = tmp_path / "ps.json"
    args = ["--timit", str(timit_tree), "--limit", "2", "--json", str(out), "--peer-cache", str(cache)]
    assert pb.main(args) == 0
    (ps,) = json.loads(out.read_text())["systems"]
    assert ps["system"] == "PocketSphinx 5.1.1 allphone" and ps["config"]["lw"] == 2.0
    assert ps["scores"]["without_sil"]["n_utts"] == 2 and ps["speed"]["audio_s"] > 0
    assert all(set(h.split()) <= set(PHONES_39) for h in ps["hyps"].values())
    assert len(json.loads(cache.read_text())["utts"]) == 2
    assert pb.main(args) == 0  # the cache is reused: same figures
    assert json.loads(out.read_text())["systems"][0]["scores"] == ps["scores"]
