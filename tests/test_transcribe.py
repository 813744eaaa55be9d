import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import export_tiny_model

from phonerec.config import DecodeConfig
from phonerec.corpora.timit import CorpusError, read_phn
from phonerec.decoding.timing import ctc_segments
from phonerec.phones import PHONES_61
from phonerec.textgrid import format_phn, format_textgrid, parse_textgrid, read_textgrid
from phonerec.commands.inputs import expand_inputs, output_path
from phonerec.transcribe import TranscribeError, Transcriber, Transcript, format_transcript

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import transcribe as transcribe_script  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny untrained CRDNN, exported by experiment.export_model."""
    d = tmp_path_factory.mktemp("exp")
    export_tiny_model(d)
    return d


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    sf.write(d / "good.wav", (rng.standard_normal(16000) * 0.1).astype("float32"), 16000)
    sf.write(d / "stereo44k.flac", (rng.standard_normal((22050, 2)) * 0.1).astype("float32"), 44100)
    sf.write(d / "silent.wav", np.zeros(0, dtype="float32"), 16000)
    sf.write(d / "short.wav", np.zeros(200, dtype="float32"), 16000)
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.wav").write_bytes(b"RIFF not really a wav file")
    return d


class PeakyTranscriber(Transcriber):
    """The real pipeline, with the network's posteriors replaced by random peaky ones of the same length."""

    def posteriors(self, wave):
        n = super().posteriors(wave)[0].shape[0]
        gen = torch.Generator().manual_seed(n)
        return (torch.randn(n, len(self.tokenizer), generator=gen) * 5).log_softmax(-1).numpy(), None


def test_bad_files_get_one_line_errors_and_the_others_are_transcribed(model_dir, audio, capsys):
    files = ["good.wav", "empty.wav", "corrupt.wav", "silent.wav", "short.wav", "missing.wav", "stereo44k.flac"]
    rc = transcribe_script.main(["--model", str(model_dir)] + [str(audio / f) for f in files])
    out, err = capsys.readouterr()
    assert rc == 1
    done = [line.split(":")[0] for line in out.splitlines()]
    assert done == [str(audio / "good.wav"), str(audio / "stereo44k.flac")]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 5
    for name, reason in [("empty.wav", "empty file"), ("corrupt.wav", "not a readable audio file"),
                         ("silent.wav", "no samples"), ("short.wav", "too short"), ("missing.wav", "no such file")]:
        assert any(name in e and reason in e for e in errors), (name, errors)
    assert "5 of 7 input(s) failed" in err


def _fail_on(name: str, error: Exception, real):
    """`real`, except that the input whose path ends with `name` raises `error` (a CUDA OOM, a bug)."""
    def call(*args, **kwargs):
        if any(str(a).endswith(name) for a in args):
            raise error
        return real(*args, **kwargs)
    return call


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   ValueError("an unforeseen bug")])
def test_an_unexpected_error_on_one_file_loses_none_of_the_others(model_dir, audio, tmp_path, monkeypatch,
                                                                   capsys, error):
    import phonerec.commands.align as align_command
    for f in ("a.wav", "b.wav", "c.wav"):
        (tmp_path / f).write_bytes((audio / "good.wav").read_bytes())
        (tmp_path / f).with_suffix(".PHN").write_text("h#\nsh\niy\nh#\n")
    files = [str(tmp_path / f) for f in ("a.wav", "b.wav", "c.wav")]
    monkeypatch.setattr(Transcriber, "transcribe", _fail_on("b.wav", error, Transcriber.transcribe))
    assert transcribe_script.main(["--model", str(model_dir)] + files) == 1
    out, err = capsys.readouterr()
    assert [line.split(":")[0] for line in out.splitlines()] == [files[0], files[2]]
    assert f"error: {files[1]}: {type(error).__name__}: {error}" in err.splitlines()
    assert "1 of 3 input(s) failed" in err
    transcribe_script.main(["--model", str(model_dir), "--verbose", files[1]])
    err = capsys.readouterr().err  # the traceback, for a bug report
    assert "Traceback (most recent call last)" in err and f"{type(error).__name__}: {error}" in err

    monkeypatch.setattr(align_command, "place", _fail_on("b.wav", error, align_command.place))
    assert align_command.main(["--model", str(model_dir), "--format", "phn", "--out", str(tmp_path / "out")]
                              + files) == 1
    err = capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.phn", "c.phn"]
    assert f"error: {files[1]}: {type(error).__name__}: {error}" in err.splitlines()


def test_json_output_carries_what_was_logged_about_the_recording(model_dir, tmp_path, capsys):
    """A silent recording is transcribed (the model makes what it can of it) with a warning: logged, and in
    the JSON `phonerec transcribe --format json` prints."""
    silent = tmp_path / "zeros.wav"
    sf.write(silent, np.zeros(16000, dtype="float32"), 16000)
    assert transcribe_script.main(["--model", str(model_dir), "--format", "json", str(silent)]) == 0
    out, err = capsys.readouterr()
    warning = f"{silent} is digital silence (peak -inf dBFS): there is nothing to recognise"
    assert json.loads(out)["warnings"] == [warning]
    assert any(line.endswith(f"WARNING phonerec.transcribe: {warning}") for line in err.splitlines()), err


def test_all_good_exits_zero_and_writes_one_file_per_input(model_dir, audio, tmp_path, capsys):
    rc = transcribe_script.main(["--model", str(model_dir), "--format", "json", "--timestamps", "--out",
                                 str(tmp_path / "out"), str(audio / "good.wav"), str(audio / "stereo44k.flac")])
    assert rc == 0 and capsys.readouterr().out == ""
    d = json.loads((tmp_path / "out" / "stereo44k.json").read_text())
    assert d["duration"] == pytest.approx(0.5) and d["segments"]  # 22050 samples at 44.1 kHz
    assert (tmp_path / "out" / "good.json").is_file()


def test_timestamps_monotonic_and_inside_the_file(model_dir, audio):
    tr = PeakyTranscriber(model_dir, "cpu", DecodeConfig(method="beam", beam=4))
    for name in ("good.wav", "stereo44k.flac"):
        t = tr.transcribe(audio / name, timestamps=True)
        assert len(t.segments) == len(t.phones) > 3
        assert [p for _, _, p in t.segments] == t.phones
        prev_end = 0.0
        for start, end, _ in t.segments:
            assert prev_end <= start < end <= t.duration
            prev_end = end
        assert len(t.confidence) == len(t.phones) and all(0 < c <= 1 for c in t.confidence)


def test_frame_segments_geometry():
    # 20 ms output frames (frame j covers (j +- 0.5) * 20 ms); phones on frames [1,3), [6,7), [7,8):
    # blank frames 3..5 split at their middle (frame 4 -> 0.08 s), b and c touch (edge 6.5 -> 0.13 s),
    # leading and trailing blanks go to the first and last phone
    segs = ctc_segments([(1, 3), (6, 7), (7, 8)], ["a", "b", "c"], 0.02, duration=0.2)
    assert segs == [(0.0, pytest.approx(0.08), "a"), (pytest.approx(0.08), pytest.approx(0.13), "b"),
                    (pytest.approx(0.13), 0.2, "c")]
    assert ctc_segments([(9, 10)], ["a"], 0.02, duration=0.185) == [(0.0, 0.185, "a")]
    assert ctc_segments([], [], 0.02, 1.0) == []


def _transcript(phones):
    bounds = np.cumsum([0.0] + [0.0123 + 0.01 * (i % 5) for i in range(len(phones))])
    segs = [(float(s), float(e), p) for s, e, p in zip(bounds, bounds[1:], phones)]
    return Transcript("x.wav", phones, float(bounds[-1]) + 0.05, 16000, segs, [0.5] * len(phones))


def test_phn_round_trip_through_timit_reader(tmp_path):
    t = _transcript(list(PHONES_61))
    path = tmp_path / "x.phn"
    path.write_text(format_transcript(t, "phn"))
    back = read_phn(path, num_samples=int(round(t.duration * 16000)))
    assert [p for _, _, p in back] == t.phones
    for (s, e, _), (bs, be, _) in zip(t.segments, back):
        assert bs == round(s * 16000) and be == round(e * 16000)


def test_phn_in_the_48_set_reads_back_with_its_phone_set(tmp_path):
    t = _transcript(["sil", "cl", "k", "ae", "vcl", "t", "sil"])
    path = tmp_path / "x.phn"
    path.write_text(format_transcript(t, "phn"))
    with pytest.raises(CorpusError, match="unknown phone 'sil' \\(not in the 61-phone set\\)"):
        read_phn(path)  # cl/vcl/sil are not TIMIT-61 symbols
    back = read_phn(path, num_samples=int(round(t.duration * 16000)), phone_set=48)
    assert [p for _, _, p in back] == t.phones


def test_textgrid_round_trip(tmp_path):
    t = _transcript(["sil", "dh", "ax", 'q"uote', "sil"])
    t.segments[2] = (t.segments[2][0] + 0.004, t.segments[2][1], t.segments[2][2])  # a gap
    path = tmp_path / "x.TextGrid"
    path.write_text(format_transcript(t, "textgrid"))
    tiers = read_textgrid(path)
    assert list(tiers) == ["phones"]
    assert [p for _, _, p in tiers["phones"]] == t.phones
    for (s, e, _), (bs, be, _) in zip(t.segments, tiers["phones"]):
        assert bs == pytest.approx(s, abs=1e-6) and be == pytest.approx(e, abs=1e-6)
    full = read_textgrid(path, keep_empty=True)["phones"]  # Praat needs the tier to tile [0, xmax]
    assert full[0][0] == 0 and full[-1][1] == pytest.approx(t.duration)
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(full, full[1:]))
    with pytest.raises(ValueError, match="overlaps"):
        format_textgrid({"p": [(0.0, 0.5, "a"), (0.4, 0.6, "b")]}, 1.0)
    assert parse_textgrid(format_textgrid({"a": [], "b": [(0.1, 0.2, "x")]}, 1.0)) == {"a": [], "b": [(0.1, 0.2, "x")]}


def test_text_and_json_formats():
    t = _transcript(["sil", "aa", "sil"])
    assert format_transcript(Transcript("f.wav", ["aa", "b"], 1.0, 16000), "text") == "f.wav: aa b\n"
    lines = format_transcript(t, "text").splitlines()
    assert lines[0] == "x.wav:" and lines[2].split()[-1] == "aa" and len(lines) == 4
    d = json.loads(format_transcript(t, "json"))
    assert d["phones"] == t.phones and [s["phone"] for s in d["segments"]] == t.phones
    assert list(d) == ["file", "duration", "phones", "segments", "warnings"] and d["warnings"] == []
    t.words, t.warnings = [(0.0, 0.5, "a")], ["x.wav is clipped (1.00 % of the samples at full scale)"]
    d = json.loads(format_transcript(t, "json"))
    assert list(d) == ["file", "duration", "phones", "segments", "words", "warnings"] and d["warnings"] == t.warnings
    with pytest.raises(ValueError, match="timestamps"):
        format_transcript(Transcript("f.wav", ["aa"], 1.0, 16000), "phn")
    with pytest.raises(ValueError):
        format_phn([(0.1, 0.1, "a")])


def test_inputs_from_folders_and_list_files(audio, tmp_path):
    lst = tmp_path / "files.txt"
    lst.write_text(f"# a comment\n{audio / 'good.wav'}\n\nutt7 relative.wav\n")
    (tmp_path / "relative.wav").write_bytes(b"")
    found, problems = expand_inputs([str(audio), str(lst), str(tmp_path / "nothing_here")])
    paths = [p for p, _ in found]
    names = [p.name for p in paths]
    assert set(names[:6]) == {"good.wav", "stereo44k.flac", "silent.wav", "short.wav", "empty.wav", "corrupt.wav"}
    assert names[6:] == ["good.wav", "relative.wav", "nothing_here"] and paths[7] == tmp_path / "relative.wav"
    assert [n for _, n in found[6:]] == ["good", "relative", "nothing_here"]
    (tmp_path / "tree" / "DR1" / "FAKS0").mkdir(parents=True)
    (tmp_path / "tree" / "DR1" / "FAKS0" / "SA1.WAV.wav").write_bytes(b"")
    assert expand_inputs([str(tmp_path / "tree")])[0] == [(tmp_path / "tree/DR1/FAKS0/SA1.WAV.wav", "DR1/FAKS0/SA1")]
    empty_dir = tmp_path / "no_audio"
    empty_dir.mkdir()
    assert "no audio files" in expand_inputs([str(empty_dir)])[1][0]


def test_output_names_never_collide(tmp_path):
    taken = set()
    a = output_path(tmp_path, "si1", "phn", taken)
    b = output_path(tmp_path, "SI1", "phn", taken)  # case-insensitive file systems
    assert a.name == "si1.phn" and b.name == "SI1-2.phn"
    assert output_path(tmp_path, "DR1/FAKS0/si1", "textgrid", set()) == tmp_path / "DR1/FAKS0/si1.TextGrid"


def test_transcriber_errors_are_transcribe_errors(model_dir, audio):
    tr = Transcriber(model_dir, "cpu")
    with pytest.raises(TranscribeError, match="too short"):
        tr.transcribe(audio / "short.wav")
    assert tr.decode.method == "greedy"  # the model's own decode config by default


def test_blank_penalty_option_reaches_the_search(model_dir, audio, capsys):
    """--blank-penalty (and Recognizer.load(blank_penalty=...)): a large negative one lets blank win every frame."""
    from phonerec import Recognizer

    wav = str(audio / "good.wav")
    assert transcribe_script.main(["--model", str(model_dir), wav]) == 0
    assert capsys.readouterr().out.split(":", 1)[1].split()  # the untrained model emits phones
    assert transcribe_script.main(["--model", str(model_dir), wav, "--blank-penalty", "-50"]) == 0
    out, err = capsys.readouterr()
    assert out.split(":", 1)[1].split() == []
    # at load, what it decodes with and where each setting came from
    assert "decodes with greedy, blank_penalty -50 (method: default; blank_penalty: command line)" in err
    assert Recognizer.load(model_dir, device="cpu", blank_penalty=-50).transcribe(wav, timestamps=False).phones == []


def test_stacked_frames_are_centred_where_their_input_frames_are():
    """An LSTM stacking 3 frames: output frame j covers input frames 3j .. 3j + 2, centred one hop after 3j;
    CTC segments move by that much (a strided CNN's output frame j is centred on input frame j * stride)."""
    from phonerec.config import ModelConfig
    from phonerec.models import build_model
    from phonerec.models.cnn import CNNConfig
    from phonerec.models.lstm import LSTMConfig

    stacked = build_model(ModelConfig("lstm", LSTMConfig(frame_stack=3, lstm_hidden=4, lstm_layers=1)), 8, 5)
    strided = build_model(ModelConfig("cnn", CNNConfig(cnn_channels=[4, 4], time_strides=[2, 2], cnn_blocks=1)), 8, 5)
    assert (stacked.centre_offset, strided.centre_offset) == (1.0, 0.0)
    plain = ctc_segments([(0, 1), (4, 5)], ["a", "b"], 0.03, 1.0)
    shifted = ctc_segments([(0, 1), (4, 5)], ["a", "b"], 0.03, 1.0, centre_s=stacked.centre_offset * 0.01)
    assert plain[0][1] == pytest.approx(0.06) and shifted[0][1] == pytest.approx(0.07)
