import itertools
import math

import numpy as np
import pytest
import torch
from conftest import export_untrained

from phonerec.decoding.ctc import beam_search_decode, forced_spans, greedy_decode, min_frames_needed, prefix_beam_search


def _log(p):
    return np.log(np.asarray(p, dtype=np.float64)).astype(np.float32)


def _collapse(path):
    out, prev = [], None
    for x in path:
        if x != prev and x != 0:
            out.append(x)
        prev = x
    return tuple(out)


def _exact_best(lp, lm=None, w=0.0, b=0.0):
    """Best prefix by brute force over every path: sum paths per prefix, add LM and bonus."""
    n_frames, n_cls = lp.shape
    mass = {}
    for path in itertools.product(range(n_cls), repeat=n_frames):
        l = _collapse(path)
        mass[l] = np.logaddexp(mass.get(l, -np.inf), sum(float(lp[t, c]) for t, c in enumerate(path)))

    def total(l, a):
        s = a + b * len(l)
        if lm is not None and w:
            h = 0
            for c in l:
                s, h = s + w * lm[h, c], c
            s += w * lm[h, 0]
        return s

    return max(((l, total(l, a)) for l, a in mass.items()), key=lambda x: x[1])


@pytest.mark.parametrize("scale", [0.5, 2.0, 6.0])
def test_beam_one_equals_greedy_on_random_posteriors(scale):
    gen = torch.Generator().manual_seed(int(scale * 10))
    for _ in range(60):
        n_frames, n_cls = int(torch.randint(1, 40, (1,), generator=gen)), int(torch.randint(2, 12, (1,), generator=gen))
        lp = (torch.randn(n_frames, n_cls, generator=gen) * scale).log_softmax(-1)
        greedy = greedy_decode(lp[None], torch.tensor([n_frames]))[0]
        assert prefix_beam_search(lp, beam=1)[0] == greedy


def test_batch_api_matches_greedy_with_padding():
    torch.manual_seed(0)
    lp = (torch.randn(5, 40, 49) * 3).log_softmax(-1)
    lens = torch.tensor([40, 33, 1, 17, 25])
    assert beam_search_decode(lp, lens, beam=1) == greedy_decode(lp, lens)


def test_wide_beam_finds_the_exact_best_prefix_with_lm_and_bonus():
    rng = np.random.default_rng(0)
    for seed in range(60):
        n_frames, n_cls = int(rng.integers(1, 6)), int(rng.integers(2, 5))
        lp = torch.randn(n_frames, n_cls, generator=torch.Generator().manual_seed(seed)).mul(2).log_softmax(-1).numpy()
        lm = np.log(rng.dirichlet(np.ones(n_cls), size=n_cls)).astype(np.float32)
        w, b = float(rng.choice([0.0, 0.5, 1.0])), float(rng.choice([0.0, -0.5, 1.0]))
        ids, s = prefix_beam_search(lp, beam=500, lm=lm, lm_weight=w, insertion_bonus=b)
        best, best_score = _exact_best(lp, lm, w, b)
        assert s == pytest.approx(best_score, abs=1e-4)
        assert tuple(ids) == best


def test_hand_built_posterior_decodes_known_answer():
    # blank=0, a=1, b=2: frames say "a a _ b _ a" -> [a, b, a]; repeated a across a blank stays two a's
    lp = _log([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8],
               [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    assert prefix_beam_search(lp, beam=8)[0] == [1, 2, 1]
    lp2 = _log([[0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    assert prefix_beam_search(lp2, beam=8)[0] == [1, 1]


def test_beam_beats_greedy_by_summing_paths():
    # Each frame: blank 0.6, a 0.4. Best path is "_ _" (0.36) -> empty, but the prefix "a"
    # has three paths (a a, a _, _ a): 0.16 + 0.24 + 0.24 = 0.64.
    lp = _log([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(torch.from_numpy(lp)[None], torch.tensor([2]))[0] == []
    ids, score = prefix_beam_search(lp, beam=4)
    assert ids == [1] and math.exp(score) == pytest.approx(0.64, abs=1e-6)
    # Longer: a's spread over three frames beat the greedy blank/b path.
    lp = _log([[0.45, 0.35, 0.2], [0.45, 0.35, 0.2], [0.45, 0.35, 0.2]])
    assert greedy_decode(torch.from_numpy(lp)[None], torch.tensor([3]))[0] == []
    assert prefix_beam_search(lp, beam=8)[0] == [1]


def test_pruning_small_beams_miss_the_best_labelling_wider_beams_find_it():
    # blank 0, a 1, b 2. The exact best labelling (sum over all 3^4 paths) is [a, b]; reaching it
    # needs the "a" and "a b" states that a beam of 1, 2 or 3 prunes away after the first frames:
    # beam 1 (greedy: _ b b b) says [b], beams 2 and 3 say [b, a], beams >= 4 find [a, b].
    p = [[0.67, 0.27, 0.06], [0.14, 0.32, 0.54], [0.12, 0.43, 0.45], [0.02, 0.41, 0.57]]
    lp = _log(p)
    best, best_score = _exact_best(lp)
    assert best == (1, 2)
    assert math.exp(best_score) == pytest.approx(0.248835, abs=1e-5)  # P([a, b]), checked by the brute force
    for beam, wrong in ((1, [2]), (2, [2, 1]), (3, [2, 1])):
        ids, score = prefix_beam_search(lp, beam=beam)
        assert ids == wrong, beam  # pruning changed the answer...
        assert score < best_score - 0.2, beam  # ...to a less likely one (the exact runner-up is 0.28 below)
    for beam in (4, 5, 8, 16, 100):
        ids, score = prefix_beam_search(lp, beam=beam)
        assert tuple(ids) == best, beam
        if beam < 16:  # the right answer, but some of its paths were pruned: a lower bound of its mass
            assert score <= best_score + 1e-5, beam
        else:  # wide enough to keep every state: the exact mass
            assert score == pytest.approx(best_score, abs=1e-5), beam
    # the batch API prunes the same way, utterance by utterance (second one padded)
    batch = torch.from_numpy(np.stack([lp, np.concatenate([lp[:3], _log([[0.9, 0.05, 0.05]])])]))
    lens = torch.tensor([4, 3])
    exact_short = list(_exact_best(lp[:3])[0])
    assert beam_search_decode(batch, lens, beam=2) == [[2, 1], prefix_beam_search(lp[:3], beam=2)[0]]
    assert beam_search_decode(batch, lens, beam=8) == [[1, 2], exact_short]


def test_lm_and_insertion_bonus_change_the_answer():
    # Frame 2 is ambiguous between a (1) and b (2); the LM strongly prefers b after a.
    lp = _log([[0.05, 0.9, 0.05], [0.5, 0.26, 0.24], [0.9, 0.05, 0.05]])
    assert prefix_beam_search(lp, beam=8)[0] == [1]
    # rows: history <s>, a, b; columns: </s>, a, b
    lm = _log([[0.01, 0.9, 0.09], [0.1, 0.05, 0.85], [0.9, 0.05, 0.05]])
    assert prefix_beam_search(lp, beam=8, lm=lm, lm_weight=0.0)[0] == [1]
    assert prefix_beam_search(lp, beam=8, lm=lm, lm_weight=2.0)[0] == [1, 2]
    # A large bonus makes insertions win, a large penalty deletes everything.
    assert len(prefix_beam_search(lp, beam=8, insertion_bonus=5.0)[0]) == 3
    assert prefix_beam_search(lp, beam=8, insertion_bonus=-20.0)[0] == []


def test_blank_penalty_turns_a_blank_won_frame_into_a_phone_in_both_searches():
    """decode.blank_penalty: frame 2 is blank by 0.105 nats against b (beam, summing paths: [a] beats [a b] by
    0.146); a penalty of 0.3 emits b in both searches, 0.05 in neither."""
    from phonerec.config import ConfigError, DecodeConfig
    from phonerec.decoding.search import check_decode_config, search

    lp = _log([[0.05, 0.9, 0.05], [0.5, 0.05, 0.45], [0.9, 0.06, 0.04]])
    for method in ("greedy", "beam"):
        assert search(lp, DecodeConfig(method=method, beam=8)) == [1]
        assert search(lp, DecodeConfig(method=method, beam=8, blank_penalty=0.3)) == [1, 2]
        assert search(lp, DecodeConfig(method=method, beam=8, blank_penalty=0.05)) == [1]
    before = lp.copy()
    search(lp, DecodeConfig(blank_penalty=3.0))
    assert np.array_equal(lp, before)  # the stored posteriors are not changed: tuning reuses them
    # a large penalty emits a phone in every frame that is not a repeat; a negative one deletes
    assert search(lp, DecodeConfig(blank_penalty=5.0)) == [1, 2, 1]
    assert search(lp, DecodeConfig(blank_penalty=-5.0)) == []
    with pytest.raises(ConfigError, match="blank_penalty"):
        check_decode_config(DecodeConfig(blank_penalty=float("nan")))


def test_lm_shape_and_beam_are_checked():
    lp = _log([[0.5, 0.5]])
    with pytest.raises(ValueError, match="LM matrix"):
        prefix_beam_search(lp, lm=np.zeros((3, 3)), lm_weight=1.0)
    with pytest.raises(ValueError, match="beam"):
        prefix_beam_search(lp, beam=0)


def test_empty_utterance_gives_empty_hypothesis():
    assert prefix_beam_search(np.zeros((0, 5), dtype=np.float32), beam=4) == ([], 0.0)


def test_align_spans_are_ordered_and_cover_the_tokens():
    torch.manual_seed(1)
    for _ in range(20):
        lp = (torch.randn(50, 8) * 4).log_softmax(-1)
        ids = greedy_decode(lp[None], torch.tensor([50]))[0]
        spans = forced_spans(lp, ids)
        assert len(spans) == len(ids)
        for (s, e), (s2, _) in zip(spans, spans[1:]):
            assert 0 <= s < e <= s2
        assert all(0 <= s < e <= 50 for s, e in spans)
    lp = _log([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    assert forced_spans(lp, [1, 2]) == [(0, 2), (3, 4)]
    assert forced_spans(lp, []) == []
    with pytest.raises(ValueError, match="cannot emit"):
        forced_spans(lp[:2], [1, 1])
    assert min_frames_needed([1, 1]) == 3


# --- decoding whole splits (phonerec.experiment.decode, scripts/decode.py) ---------------------------------



def _tiny_experiment(tmp_path):
    """A tiny untrained model in exp/, random cached features and manifests for train/dev/test in data/."""
    import json

    from phonerec.config import ExperimentConfig, ModelConfig, to_dict
    from phonerec.features.fbank import FeatureCache, _cache_config
    from phonerec.models import build_model
    from phonerec.models.cnn import CNNConfig
    from phonerec.phones import PhoneTokenizer

    cfg = ExperimentConfig()
    cfg.model = ModelConfig("cnn", CNNConfig(cnn_channels=[8, 8], time_strides=[2, 1], cnn_blocks=1))  # fast on CPU
    tok = PhoneTokenizer.for_set(48)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.features.n_mels, len(tok))
    cmvn = {"mean": [0.0] * 80, "std": [1.0] * 80}
    exp, data = tmp_path / "exp", tmp_path / "data"
    (data / "manifests").mkdir(parents=True)
    for split, n in (("train", 6), ("dev", 4), ("test", 3)):
        utts = [f"spk{k}_{split}{k}" for k in range(n)]
        manifest = {u: {"wav": f"/nowhere/{u}.wav", "duration": 1.0, "spk_id": u.split("_")[0],
                        "phn": "h# sh iy hh ae dcl d h#"} for u in utts}
        (data / "manifests" / f"{split}.json").write_text(json.dumps(manifest))
        lengths = torch.tensor([60 + 7 * k for k in range(n)])
        FeatureCache(utts, lengths, torch.randn(int(lengths.sum()), 80).half(), _cache_config(cfg.features)).save(
            data / "fbank" / f"{split}.pt")
    from phonerec.experiment.train import trained_on

    export_untrained(model, {"config": to_dict(cfg), "phones": tok.phones, "cmvn": cmvn,
                             "trained_on": trained_on(data)}, exp)  # as training records its data
    return exp, data


def carried_decoding(exp):
    """(settings, LM) the model file in `exp` carries from tuning."""
    from phonerec.inference.decode_settings import carried_decoding as carried
    from phonerec.inference.model import load_model

    loaded = load_model(exp, "cpu")
    return carried(loaded.info, loaded.path)[:2]


def test_decode_script_greedy_default_and_tuning(tmp_path):
    import json
    import sys
    from pathlib import Path

    from phonerec.data import make_loader
    from phonerec.evaluation.per import read_hyp_file
    from phonerec.experiment.train import decode_loader, load_split
    from phonerec.inference.model import load_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import decode as decode_script

    exp, data = _tiny_experiment(tmp_path)
    assert decode_script.main(["--exp", str(exp), "--data", str(data), "--device", "cpu"]) == 0
    d = json.loads((exp / "decode_test" / "decode.json").read_text())
    assert d["method"] == "greedy" and d["tuned_on"] is None and not (exp / "lm_bigram.json").exists()
    model, cfg, tok, cmvn = load_model(exp, "cpu")
    loader = make_loader(load_split(data, "test", cfg, tok, cmvn), 40000, shuffle=False)
    assert read_hyp_file(exp / "decode_test" / "hyp.txt") == decode_loader(model, loader, tok, "cpu")[0]

    args = ["--exp", str(exp), "--data", str(data), "--device", "cpu", "--tune", "--beam", "4",
            "--lm-weights", "0", "0.5", "--insertion-bonuses", "0", "1"]
    assert decode_script.main(args) == 0
    assert (exp / "lm_bigram.json").is_file()
    for split in ("dev", "test"):
        d = json.loads((exp / f"decode_{split}" / "decode.json").read_text())
        assert d["method"] == "beam" and d["beam"] == 4 and d["tuned_on"] == "dev"
        assert len(d["tuning"]["grid"]) == 4 and d["tuning"]["split"] == "dev"
        best = min(d["tuning"]["grid"], key=lambda r: (r["per"], r["lm_weight"], abs(r["insertion_bonus"])))
        assert (d["lm_weight"], d["insertion_bonus"]) == (best["lm_weight"], best["insertion_bonus"])
    assert decode_script.main(args + ["--tune-split", "test"]) == 1  # never tune on test
    from phonerec.decoding.search import resolve_decode_config

    reused = resolve_decode_config(None, exp / "decode_test" / "decode.json")  # tuned settings, e.g. for transcribe
    assert (reused.method, reused.beam, reused.lm_weight) == ("beam", 4, d["lm_weight"])
    # --blank-penalty reaches the search (a negative one makes blank win every frame) and decode.json records it
    assert decode_script.main(["--exp", str(exp), "--data", str(data), "--device", "cpu", "--splits", "test",
                               "--blank-penalty", "-30"]) == 0
    assert json.loads((exp / "decode_test" / "decode.json").read_text())["blank_penalty"] == -30.0
    hyps = read_hyp_file(exp / "decode_test" / "hyp.txt")
    assert len(hyps) == 3 and all(h == [] for h in hyps.values())
    with pytest.raises(SystemExit):
        decode_script.main(["--exp", str(exp), "--data", str(data), "--method", "viterbi"])


def test_decode_config_file_and_overrides(tmp_path):
    from phonerec.config import ConfigError, DecodeConfig
    from phonerec.decoding.search import resolve_decode_config

    (tmp_path / "exp.yaml").write_text("model:\n  name: lstm\ndecode:\n  method: beam\n  beam: 8\n")
    (tmp_path / "bare.yaml").write_text("lm_weight: 0.5\ninsertion_bonus: 1\n")
    (tmp_path / "noconf.yaml").write_text("model:\n  name: lstm\n")
    (tmp_path / "bad.yaml").write_text("decode:\n  beems: 3\n")
    assert resolve_decode_config(None, tmp_path / "exp.yaml") == DecodeConfig(method="beam", beam=8)
    c = resolve_decode_config(DecodeConfig(method="beam"), tmp_path / "bare.yaml", beam=2)
    assert (c.method, c.beam, c.lm_weight, c.insertion_bonus) == ("beam", 2, 0.5, 1.0)
    assert resolve_decode_config(DecodeConfig(beam=3), tmp_path / "noconf.yaml") == DecodeConfig(beam=3)
    with pytest.raises(ConfigError, match="beems"):
        resolve_decode_config(None, tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="method"):
        resolve_decode_config(None, None, method="viterbi")
    with pytest.raises(ConfigError, match="not found"):
        resolve_decode_config(None, tmp_path / "missing.yaml")


def test_tuned_decoding_travels_inside_model_pt(tmp_path):
    """After --tune, model.pt alone decodes as tuned (beam, its LM) in decode.py, Transcriber and
    Recognizer.load, even where the data folder's train manifest would give another LM."""
    import json
    import shutil
    import sys
    from pathlib import Path

    from phonerec.decoding.lm import BigramLM
    from phonerec.evaluation.per import read_hyp_file
    from phonerec.transcribe import Transcriber

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import decode as decode_script

    exp, data = _tiny_experiment(tmp_path)
    assert carried_decoding(exp) == (None, None)  # an untuned model: its config's greedy
    base = ["--exp", str(exp), "--data", str(data), "--device", "cpu"]
    assert decode_script.main(base + ["--tune", "--beam", "4", "--lm-weights", "0.5", "1",
                                      "--insertion-bonuses", "2", "3"]) == 0
    tuned = json.loads((exp / "decode_test" / "decode.json").read_text())
    tuned_hyps = read_hyp_file(exp / "decode_test" / "hyp.txt")
    assert sum(map(len, tuned_hyps.values())) > 0  # a bonus >= 2 makes the untrained model emit phones
    dcfg, lm = carried_decoding(exp)
    assert (dcfg.method, dcfg.beam, dcfg.lm_weight, dcfg.insertion_bonus) == (
        "beam", 4, tuned["lm_weight"], tuned["insertion_bonus"])
    assert np.allclose(lm.logprob, BigramLM.load(exp / "lm_bigram.json").logprob)

    # another corpus's train manifest beside the features: the model's own LM still decodes
    other = {"u": {"wav": "/nowhere/u.wav", "duration": 1.0, "spk_id": "s", "phn": "h# aa b aa b aa b h#"}}
    (data / "manifests" / "train.json").write_text(json.dumps(other))
    (exp / "lm_bigram.json").unlink()
    shutil.rmtree(exp / "decode_test")
    assert decode_script.main(base + ["--splits", "test"]) == 0  # no options: the carried settings
    again = json.loads((exp / "decode_test" / "decode.json").read_text())
    assert again["method"] == "beam" and "carries" in again["lm"] and not (exp / "lm_bigram.json").exists()
    assert read_hyp_file(exp / "decode_test" / "hyp.txt") == tuned_hyps

    alone = tmp_path / "elsewhere" / "model.pt"  # the file without its experiment folder
    alone.parent.mkdir()
    shutil.copy(exp / "model.pt", alone)
    t = Transcriber(alone, "cpu")
    assert t.decode == dcfg and np.allclose(t.lm_matrix, lm.matrix(t.tokenizer.symbols))
    assert Transcriber(alone, "cpu", overrides={"method": "greedy"}).decode.method == "greedy"


def test_tuning_on_another_corpus_leaves_the_model_file_as_it_was(tmp_path):
    """decode.py --tune on a dev set the model did not train with decodes with its choice, but model.pt
    stays byte for byte the same unless --store-tuned; what is stored names the manifest and its digest."""
    import json
    import shutil
    import sys
    from pathlib import Path

    from phonerec.records import digest

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import decode as decode_script

    exp, data = _tiny_experiment(tmp_path)
    other = tmp_path / "other"
    shutil.copytree(data, other)
    rows = json.loads((other / "manifests" / "dev.json").read_text())
    for row in rows.values():
        row["phn"] = "h# aa b aa h#"  # another corpus's dev set
    (other / "manifests" / "dev.json").write_text(json.dumps(rows))
    before = (exp / "model.pt").read_bytes()
    tune = ["--exp", str(exp), "--data", str(other), "--device", "cpu", "--splits", "dev", "--tune", "--beam", "2",
            "--lm-weights", "0.5", "--insertion-bonuses", "2", "3"]
    assert decode_script.main(tune) == 0
    assert json.loads((exp / "decode_dev" / "decode.json").read_text())["tuned_on"] == "dev"  # used for this run
    assert (exp / "model.pt").read_bytes() == before and carried_decoding(exp) == (None, None)
    assert decode_script.main(tune + ["--store-tuned"]) == 0
    from phonerec.training import checkpoint

    stored = checkpoint.load(exp / "model.pt")["decoding"]["tuned_on"]
    assert stored["manifest"] == str((other / "manifests" / "dev.json").resolve())
    assert stored["digest"] == digest(other / "manifests" / "dev.json") and stored["split"] == "dev"
