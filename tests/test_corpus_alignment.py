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
    assert after > before + 10 and after > 85, (before, after)  # measured: 71.3 -> 92.6 %


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
