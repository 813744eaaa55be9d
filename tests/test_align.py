"""`phonerec align`: phones from a .PHN file or a phone list, time-aligned with a model, written as
TextGrid / .phn / JSON that the project's own readers open."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import export_tiny_model

from phonerec import forced_alignment
from phonerec.commands import align
from phonerec.corpora.timit import read_phn
from phonerec.phones import fold
from phonerec.textgrid import read_textgrid
from phonerec.transcribe import TranscribeError

PHN = "0 3000 h#\n3000 4000 q\n4000 5600 ae\n5600 7000 bcl\n7000 8000 b\n8000 12000 h#\n"
FOLDED = ["sil", "ae", "vcl", "b", "sil"]  # 48 phones, q dropped


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("align")
    export_tiny_model(d / "exp")
    rng = np.random.default_rng(0)
    sf.write(d / "SA1.WAV", (rng.standard_normal(12000) * 0.1).astype(np.float32), 16000, format="WAV")
    (d / "SA1.PHN").write_text(PHN)
    (d / "list.txt").write_text("h# ae bcl b h#\n")
    return d


def test_read_phone_list_formats(setup, tmp_path):
    assert forced_alignment.read_phone_list(setup / "SA1.PHN", 48) == FOLDED
    assert forced_alignment.read_phone_list(setup / "list.txt", 48) == FOLDED
    (tmp_path / "one.txt").write_text("sil\nae\nvcl\nb\nsil\n")  # 48-phone symbols, one a line
    assert forced_alignment.read_phone_list(tmp_path / "one.txt", 48) == FOLDED
    (tmp_path / "bad.txt").write_text("h# xx h#")
    with pytest.raises(TranscribeError, match="bad.txt.*xx"):
        forced_alignment.read_phone_list(tmp_path / "bad.txt", 48)


@pytest.mark.parametrize("fmt", ["textgrid", "phn", "json"])
def test_align_writes_readable_segments(setup, tmp_path, fmt):
    out = tmp_path / "out"
    # the .PHN beside the audio is the default phones file
    assert align.main(["--model", str(setup / "exp"), str(setup / "SA1.WAV"), "--format", fmt, "--out", str(out)]) == 0
    (path,) = out.iterdir()
    if fmt == "textgrid":
        segs = read_textgrid(path)["phones"]
    elif fmt == "phn":
        segs = [(s / 16000, e / 16000, p) for s, e, p in read_phn(path, 12000, phone_set=48)]
    else:
        segs = [(d["start"], d["end"], d["phone"]) for d in json.loads(path.read_text())["segments"]]
    assert [p for *_, p in segs] == FOLDED
    assert segs[0][0] == 0 and segs[-1][1] == pytest.approx(0.75)
    assert all(a[1] == pytest.approx(b[0]) and a[0] < a[1] for a, b in zip(segs, segs[1:]))  # tiles the file


def test_align_reports_bad_inputs_and_goes_on(setup, tmp_path, capsys):
    (tmp_path / "long.txt").write_text(" ".join(["ae", "b"] * 60))  # 120 phones in 0.75 s: too many
    code = align.main(["--model", str(setup / "exp"), str(setup / "SA1.WAV"), str(setup / "SA1.WAV"),
                       "--phones", str(tmp_path / "long.txt"), str(setup / "list.txt"), "--format", "phn"])
    out, err = capsys.readouterr()
    assert code == 1 and "SA1.WAV: cannot align 120 phones" in err and "1 of 2 input(s) failed" in err
    assert [line.split()[2] for line in out.splitlines()] == FOLDED
    with pytest.raises(SystemExit):  # one phones file per audio file
        align.main(["--model", str(setup / "exp"), str(setup / "SA1.WAV"), "--phones", "a", "b"])


def test_script_and_command(setup):
    script = Path(__file__).resolve().parents[1] / "scripts" / "align.py"
    r = subprocess.run([sys.executable, str(script), "--model", str(setup / "exp"), str(setup / "SA1.WAV"),
                        "--format", "text"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [line.split()[-1] for line in r.stdout.splitlines()[1:]] == fold(PHN.split()[2::3], 48)


def _viterbi_spans_full_matrix(lp, ids, min_frames):
    """The (T, S)-backpointer Viterbi that decoding.timing.viterbi_spans replaced (kept as the reference)."""
    lp = np.asarray(lp, dtype=np.float64)
    n_tok, n_frames = len(ids), lp.shape[0]
    d = max(1, min(min_frames, n_frames // n_tok))
    emit = lp[:, np.repeat(np.asarray(ids, dtype=np.int64), d)]
    n_states = emit.shape[1]
    loop = np.zeros(n_states, dtype=bool)
    loop[d - 1 :: d] = True
    score = np.full(n_states, -np.inf)
    score[0] = emit[0, 0]
    advanced = np.zeros((n_frames, n_states), dtype=bool)
    for t in range(1, n_frames):
        stay = np.where(loop, score, -np.inf)
        move = np.concatenate(([-np.inf], score[:-1]))
        advanced[t] = move > stay
        score = np.maximum(stay, move) + emit[t]
    state, states = n_states - 1, np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        states[t] = state
        state -= int(advanced[t, state])
    phone = states // d
    starts = np.flatnonzero(np.diff(phone, prepend=-1))
    return [(int(s), int(e)) for s, e in zip(starts, np.append(starts[1:], n_frames))]


def test_block_viterbi_gives_the_full_matrix_path():
    """The bounded-memory Viterbi (backpointers one block at a time) finds exactly the path of the full
    (T, S) backpointer, ties included, for any block size (1 frame, a few, more than T)."""
    from phonerec.decoding.timing import viterbi_spans

    rng = np.random.default_rng(0)
    for trial in range(120):
        n_frames = int(rng.integers(1, 300))
        n_tok = int(rng.integers(1, n_frames + 1))
        lp = np.log(rng.dirichlet(np.ones(6), size=n_frames)).astype(np.float32)
        if trial % 3 == 0:
            lp = np.round(lp, 1)  # many ties
        ids = rng.integers(0, 6, n_tok).tolist()
        for min_frames in (1, 2, 3):
            want = _viterbi_spans_full_matrix(lp, ids, min_frames)
            for block in (None, 1, 7, 1000):
                assert viterbi_spans(lp, ids, min_frames, block=block) == want, (trial, min_frames, block)


def _best_score_by_enumeration(lp, ids, min_frames, optional, optional_min):
    """The best total log posterior over every way to cut T frames into the tokens' spans in order
    (mandatory spans >= d frames, optional ones empty or >= max(d, optional_min)), by brute force."""
    n_frames = len(lp)
    d = max(1, min(min_frames, n_frames // (len(ids) - len(optional))))
    cum = np.vstack([np.zeros(lp.shape[1]), np.cumsum(lp, axis=0)])

    def best(k, start):
        if k == len(ids):
            return 0.0 if start == n_frames else -np.inf
        lengths = range(d, n_frames - start + 1)
        if k in optional:
            lengths = [0, *range(max(d, optional_min), n_frames - start + 1)]
        return max((cum[start + n, ids[k]] - cum[start, ids[k]] + best(k + 1, start + n) for n in lengths),
                   default=-np.inf)

    return best(0, 0)


def test_optional_tokens_are_skipped_or_long_enough_on_the_best_path():
    """With optional tokens (pauses between words) the spans tile the frames in order, a skipped token's
    span is empty, a kept one has at least optional_min_frames frames, and the path's score is the best
    that brute force over every segmentation finds (a wrong skip transition or backtrack gives a lower one)."""
    from phonerec.decoding.timing import viterbi_spans

    rng = np.random.default_rng(1)
    skipped = kept = 0
    for trial in range(150):
        n_tok = int(rng.integers(3, 6))
        n_frames = int(rng.integers(n_tok, 16))
        lp = np.log(rng.dirichlet(np.ones(4) * 0.5, size=n_frames))
        ids = rng.integers(0, 4, n_tok).tolist()
        optional = [k for k in range(1, n_tok - 1, 2) if rng.random() < 0.8]
        min_frames, optional_min = int(rng.integers(1, 3)), int(rng.integers(1, 5))
        spans = viterbi_spans(lp, ids, min_frames, block=int(rng.integers(1, 6)), optional=optional,
                              optional_min_frames=optional_min)
        assert spans[0][0] == 0 and spans[-1][1] == n_frames
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), spans
        for k, (s, e) in enumerate(spans):
            if k in optional and s == e:
                skipped += 1
            elif k in optional:
                kept += 1
                assert e - s >= min(optional_min, n_frames), (trial, spans)
            else:
                assert e > s
        score = sum(lp[s:e, ids[k]].sum() for k, (s, e) in enumerate(spans))
        want = _best_score_by_enumeration(lp, ids, min_frames, optional, optional_min)
        assert score == pytest.approx(want), (trial, spans)
    assert skipped > 20 and kept > 20  # both branches were exercised


def test_an_optional_pause_takes_the_silent_frames_between_two_words():
    """Two words with a 12-frame silence between them: the optional sil token takes exactly those frames;
    without the silence it is skipped; and without the option the silence displaces a word."""
    from phonerec.decoding.timing import viterbi_spans

    sil, a, b = 0, 1, 2
    labels = [sil] * 5 + [a] * 6 + [sil] * 12 + [b] * 6 + [sil] * 5
    lp = np.log(np.full((len(labels), 3), 0.05))
    lp[np.arange(len(labels)), labels] = np.log(0.9)
    ids = [sil, a, sil, b, sil]
    assert viterbi_spans(lp, ids, 2, optional=[2]) == [(0, 5), (5, 11), (11, 23), (23, 29), (29, 34)]
    no_pause = [x for i, x in enumerate(labels) if not 11 <= i < 23]
    lp2 = np.log(np.full((len(no_pause), 3), 0.05))
    lp2[np.arange(len(no_pause)), no_pause] = np.log(0.9)
    assert viterbi_spans(lp2, ids, 2, optional=[2]) == [(0, 5), (5, 11), (11, 11), (11, 17), (17, 22)]
    # without the option the pause must go to a word: the first sil swallows it and a's 6 frames
    # (6 + 2 mismatched frames beat a stretched over the 12 silent ones), a is misplaced by 16 frames
    assert viterbi_spans(lp, [sil, a, b, sil], 2) == [(0, 21), (21, 23), (23, 29), (29, 34)]
