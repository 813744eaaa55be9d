"""Alignment of many recordings refined on themselves (phonerec.corpus_alignment), on the session's synthetic
corpus, whose .PHN times are the truth: the session's small CTC model places the phones, and rounds of Viterbi
training on those recordings alone move the boundaries to where their sounds change."""
import pytest

from phonerec import Recognizer, corpus_alignment
from phonerec.corpus_alignment import align_corpus
from phonerec.commands import align as align_command
from phonerec.corpora import timit
from phonerec.evaluation.boundaries import boundary_metric, forced_row_errors
from phonerec.textgrid import parse_textgrid


@pytest.fixture(scope="module")
def test_rows(timit_tree) -> dict:
    return {u.utt_id: timit.manifest_row(u) for u in timit.scan(timit_tree).utterances if u.split == "test"}


def _within_20ms(transcripts, rows: dict) -> float:
    errors = []
    for t, row in zip(transcripts, rows.values()):
        errors += forced_row_errors(row, t.segments, 48)
    return boundary_metric(errors)["within_20ms_pct"]


def test_refining_on_the_recordings_moves_their_boundaries_to_the_truth(trained_model, test_rows):
    """adapt=0 is the model's own alignment of each file; 2 rounds on the test recordings bring far more
    boundaries within 20 ms of the truth, with the same phones, tiling each file, confidences in [0, 1]."""
    rec = Recognizer.load(trained_model[1], device="cpu")
    wavs, phns = [r["wav"] for r in test_rows.values()], [r["phn"].split() for r in test_rows.values()]
    first = align_corpus(rec, wavs, phones=phns, adapt=0)
    assert [t.segments for t in first[:3]] == [rec.align(w, phones=p).segments for w, p in zip(wavs[:3], phns[:3])]
    refined = align_corpus(rec, wavs, phones=phns, adapt=2)
    assert [t.phones for t in refined] == [t.phones for t in first]
    for t in refined:
        assert t.segments[0][0] == 0 and t.segments[-1][1] == pytest.approx(t.duration)
        assert all(a[1] == b[0] for a, b in zip(t.segments, t.segments[1:])) and all(0 <= c <= 1 for c in t.confidence)
    before, after = _within_20ms(first, test_rows), _within_20ms(refined, test_rows)
    assert after > before + 10 and after > 85, (before, after)  # measured: 70.7 -> 93.1 %


def test_the_command_refines_a_corpus_by_default_and_adapt_0_turns_it_off(trained_model, test_rows, tmp_path,
                                                                           monkeypatch):
    """`phonerec align` on many files: refined when they hold ADAPT_MIN_SECONDS of audio (lowered here for the
    small corpus), the same segments as align_corpus with as many rounds; --adapt 0 gives the model's own."""
    exp = trained_model[1]
    by_name = {r["wav"].rsplit("/", 1)[-1]: (u, r) for u, r in test_rows.items()}  # one file per output name
    rows = dict(sorted(by_name.values())[:20])
    monkeypatch.setattr(corpus_alignment, "ADAPT_ITERATIONS", 1)  # the default's number of rounds, made quick
    wavs = [r["wav"] for r in rows.values()]
    seconds = sum(r["duration"] for r in rows.values())
    rec = Recognizer.load(exp, device="cpu")
    own = align_corpus(rec, wavs, phones=[r["phn"].split() for r in rows.values()], adapt=0)
    refined = align_corpus(rec, wavs, phones=[r["phn"].split() for r in rows.values()],
                           adapt=corpus_alignment.ADAPT_ITERATIONS)
    assert [t.segments for t in refined] != [t.segments for t in own]
    for adapt, min_seconds, expected in ([[], seconds - 1, refined], [[], seconds + 1, own],
                                         [["--adapt", "0"], seconds - 1, own]):
        monkeypatch.setattr(corpus_alignment, "ADAPT_MIN_SECONDS", min_seconds)
        out = tmp_path / f"out{len(adapt)}_{min_seconds}"
        assert align_command.main(["--model", str(exp), "--out", str(out), *adapt, *wavs]) == 0
        for wav, t in zip(wavs, expected):
            name = wav.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            tiers = parse_textgrid((out / f"{name}.TextGrid").read_text())
            assert [p for *_, p in tiers["phones"]] == t.phones
            assert [(round(s, 3), round(e, 3)) for s, e, _ in tiers["phones"]] == \
                [(round(s, 3), round(e, 3)) for s, e, _ in t.segments]


def test_frame_labels_invert_the_segments_of_frame_spans():
    """The labels refinement starts from are exactly the frame spans the segments came from (frame t, centred
    on t * hop, belongs to the phone whose segment covers it), skipped pauses (empty spans) included."""
    import numpy as np

    from phonerec.decoding.timing import frame_head_segments
    from phonerec.experiment.viterbi_training import spans_to_labels

    rng = np.random.default_rng(0)
    for _ in range(200):
        lengths = rng.integers(0, 6, size=rng.integers(2, 12))
        lengths[0] = lengths[-1] = max(1, lengths[0])
        lengths[lengths == 0] = np.where(rng.random(int((lengths == 0).sum())) < 0.5, 0, 2)
        ends = np.cumsum(lengths)
        spans = list(zip((ends - lengths).tolist(), ends.tolist()))
        ids = rng.integers(1, 40, size=len(spans)).tolist()
        segments = frame_head_segments(spans, [str(i) for i in ids], 0.01, ends[-1] * 0.01)
        got = corpus_alignment.frame_labels(segments, ids, int(ends[-1]), 0.01)
        assert got.tolist() == spans_to_labels(spans, ids).tolist()


def test_the_command_reports_inputs_that_fail_and_bad_rounds(trained_model, tmp_path, capsys):
    """Every input unreadable with --adapt: one line each and exit status 1, no traceback; --adapt -1 is refused."""
    exp = str(trained_model[1])
    missing = [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    assert align_command.main(["--model", exp, "--adapt", "2", *missing]) == 1
    err = capsys.readouterr().err
    assert "2 of 2 input(s) failed" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        align_command.main(["--model", exp, "--adapt", "-1", *missing])
    assert "expected a number of rounds >= 0" in capsys.readouterr().err
    with pytest.raises(TypeError):
        align_corpus(Recognizer.load(exp, device="cpu"), missing[0], phones=["sil"])


def test_a_frame_head_model_refines_words_with_optional_pauses(tmp_path):
    """The bundled model's path: a frame-head model aligning texts (words, an optional pause between every two,
    closures joined to their stops). Refined, every file keeps its words in order, each spanning its phones,
    a pause is either skipped or >= 100 ms, no segment is empty, and the stops come without their closures."""
    import numpy as np
    import torch
    from conftest import export_tiny_frame_head

    export_tiny_frame_head(tmp_path)
    rec = Recognizer.load(tmp_path, device="cpu")
    rng = np.random.default_rng(0)
    waves = [rng.normal(0, 0.1, 16000 * 3).astype("float32") for _ in range(4)]
    lexicon = {"she": ["sh", "iy"], "had": ["hh", "ae", "d"], "dark": ["d", "aa", "r", "k"]}
    texts = ["she had dark", "dark had she", "had she", "she dark"]
    rng_state = torch.get_rng_state()
    refined = align_corpus(rec, waves, 16000, text=texts, lexicon=lexicon, adapt=2)
    assert torch.equal(torch.get_rng_state(), rng_state)  # the caller's random state is left alone
    for t, text in zip(refined, texts):
        assert [w for *_, w in t.words] == text.split()
        assert all(e > s for s, e, _ in t.segments) and "cl" not in t.phones and "vcl" not in t.phones
        assert all(e - s >= 0.1 - 1e-9 for s, e, p in t.segments[1:-1] if p == "sil")
        for (ws, we, w) in t.words:
            inside = [p for s, e, p in t.segments if s >= ws - 1e-9 and e <= we + 1e-9]
            assert inside == [p for p in lexicon[w]], (w, inside)
