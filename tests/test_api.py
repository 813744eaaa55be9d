"""The Python API: Recognizer.load(...).transcribe(...) on the small model the session trains."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from phonerec import Recognizer
from phonerec.textgrid import parse_textgrid
from phonerec.transcribe import TranscribeError


@pytest.fixture(scope="module")
def trained(trained_model):
    """(exp dir, test manifest) of the small CNN conftest.trained_model trains on the session corpus."""
    data, exp = trained_model
    return exp, json.loads((data / "manifests" / "test.json").read_text())


def test_transcribe_a_file_gives_phones_and_monotonic_times(trained):
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    row = next(iter(manifest.values()))
    t = r.transcribe(row["wav"])
    assert len(t.phones) >= 3 and set(t.phones) <= set(r.phones)
    assert t.duration == pytest.approx(row["duration"], abs=1e-3)
    starts, ends = [s for s, _, _ in t.segments], [e for _, e, _ in t.segments]
    assert [p for _, _, p in t.segments] == t.phones and starts[0] == 0.0 and ends[-1] == pytest.approx(t.duration)
    assert all(s < e for s, e in zip(starts, ends)) and starts[1:] == ends[:-1]  # tiling, strictly increasing
    d = t.to_dict()
    assert d["phones"] == t.phones and len(d["segments"]) == len(t.phones)
    assert all(0.0 < seg["confidence"] <= 1.0 for seg in d["segments"])
    tiers = parse_textgrid(t.to_textgrid())
    assert [p for _, _, p in tiers["phones"]] == t.phones


def test_waveform_input_equals_file_input_and_any_rate_is_resampled(trained):
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    row = next(iter(manifest.values()))
    wave, sr = sf.read(row["wav"], dtype="float32")
    assert r.transcribe(wave, sr).phones == r.transcribe(row["wav"]).phones
    stereo = np.stack([wave, wave])  # (channels, samples) is down-mixed
    assert r.transcribe(stereo, sr, timestamps=False).phones == r.transcribe(row["wav"]).phones
    up = np.repeat(wave, 2)  # crude 32 kHz copy: resampled back, same length in seconds
    assert r.transcribe(up, 2 * sr).duration == pytest.approx(len(wave) / sr, abs=1e-3)


def test_soundfile_layout_and_plain_lists_are_one_waveform(trained, tmp_path):
    """soundfile reads (samples, channels): `transcribe(*sf.read(path))` must down-mix the channels,
    not average the samples into a 2-sample "waveform"; a list of numbers is one input, not many."""
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    row = next(iter(manifest.values()))
    wave, sr = sf.read(row["wav"], dtype="float32")
    sf.write(tmp_path / "stereo.wav", np.stack([wave, wave], axis=1), sr)
    expected = r.transcribe(row["wav"]).phones
    samples_by_channels, rate = sf.read(tmp_path / "stereo.wav", dtype="float32")
    assert samples_by_channels.shape == (len(wave), 2)
    assert r.transcribe(samples_by_channels, rate).phones == expected
    assert r.transcribe(tmp_path / "stereo.wav").phones == expected
    assert r.transcribe(wave.tolist(), sr).phones == expected
    assert r.align(wave.tolist(), sr, phones=expected).phones == expected
    with pytest.raises(TranscribeError, match=r"cannot tell channels from samples in shape \(4, 8\)"):
        r.transcribe(np.zeros((4, 8), dtype="float32"), 16000)


def test_batch_equals_one_by_one(trained):
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    paths = [row["wav"] for row in list(manifest.values())[:7]]
    batched = r.transcribe(paths, batch_size=4)
    assert [t.path for t in batched] == paths  # input order, whatever the length order
    for path, t in zip(paths, batched):
        one = r.transcribe(path)
        assert t.phones == one.phones
        assert [s for s, _, _ in t.segments] == pytest.approx([s for s, _, _ in one.segments], abs=1e-6)


def test_bad_inputs_name_the_problem(trained, tmp_path):
    exp, _ = trained
    r = Recognizer.load(exp, device="cpu")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wav file")
    with pytest.raises(TranscribeError, match=r"corrupt\.wav: not a readable audio file"):
        r.transcribe(tmp_path / "corrupt.wav")
    with pytest.raises(TranscribeError, match="missing.wav: no such file"):
        r.transcribe([tmp_path / "corrupt.wav", tmp_path / "missing.wav"][1:])
    with pytest.raises(TranscribeError, match="needs its sample_rate"):
        r.transcribe(np.zeros(16000, dtype="float32"))
    with pytest.raises(TranscribeError, match="too short"):
        r.transcribe(np.zeros(100, dtype="float32"), 16000)


def test_example_notebook_runs_end_to_end(trained, tmp_path, monkeypatch):
    """Every code cell of examples/recognizer.ipynb, in order, in one namespace, as a kernel would."""
    exp, manifest = trained
    notebook = json.loads((Path(__file__).resolve().parents[1] / "examples" / "recognizer.ipynb").read_text())
    monkeypatch.setenv("PHONEREC_MODEL", str(exp))
    monkeypatch.setenv("PHONEREC_AUDIO", next(iter(manifest.values()))["wav"])
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert len(cells) >= 4
    for cell in cells:
        exec(compile("".join(cell["source"]), "recognizer.ipynb", "exec"), namespace)
    assert namespace["t"].phones and (tmp_path / "aligned.TextGrid").is_file()
    assert [p for _, _, p in parse_textgrid((tmp_path / "aligned.TextGrid").read_text())["phones"]] == namespace["t"].phones


def _cli_align(exp, wav, tmp_path, *extra):
    """`phonerec align` on one file, as JSON: what Recognizer.align must give too."""
    from phonerec.commands import align as align_command

    out = tmp_path / "cli"
    assert align_command.main([str(wav), "--model", str(exp), "--format", "json", "--out", str(out), *extra]) == 0
    (path,) = out.iterdir()
    return json.loads(path.read_text())


def test_align_phones_equals_the_align_command(trained, tmp_path):
    """Recognizer.align(file, phones=its .PHN) and with the phones as a list: the segments and
    confidences `phonerec align` writes for the same file."""
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    row = next(iter(manifest.values()))
    wav = Path(row["wav"])
    phn = wav.with_suffix(".PHN")
    cli = _cli_align(exp, wav, tmp_path, "--phones", str(phn))
    t = r.align(str(wav), phones=phn)
    assert t.to_dict()["segments"] == cli["segments"] and t.phones == cli["phones"]
    assert t.segments[0][0] == 0.0 and t.segments[-1][1] == pytest.approx(row["duration"])
    listed = r.align(str(wav), phones=row["phn"].split())  # 61-phone symbols, folded like the file's
    assert listed.to_dict()["segments"] == cli["segments"]
    wave, sr = sf.read(wav, dtype="float32")
    from_wave = r.align(wave, sr, phones=row["phn"].split()).segments
    assert [x for seg in from_wave for x in seg[:2]] == pytest.approx([x for seg in t.segments for x in seg[:2]])


def test_align_text_through_a_lexicon_equals_the_align_command(trained, tmp_path):
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    row = next(iter(manifest.values()))
    wav = Path(row["wav"])
    from phonerec.corpora.synthetic import LEXICON

    lexicon = tmp_path / "lexicon.txt"  # the words of the synthetic corpus, in CMUdict-free TIMITDIC form
    lexicon.write_text("".join(f"{w}  /{' '.join(prons[0])}/\n" for w, prons in LEXICON.items()))
    cli = _cli_align(exp, wav, tmp_path, "--text", str(wav.with_suffix(".TXT")), "--lexicon", str(lexicon))
    t = r.align(str(wav), text=row["wrd"], lexicon=lexicon)
    d = t.to_dict()
    assert d["segments"] == cli["segments"] and d["words"] == cli["words"]
    assert [w for _, _, w in t.words] == row["wrd"].split()
    assert [p for _, _, p in parse_textgrid(t.to_textgrid())["words"]] == row["wrd"].split()


def test_align_lists_are_batched_and_errors_name_the_input(trained):
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    rows = list(manifest.values())[:5]
    batched = r.align([row["wav"] for row in rows], phones=[row["phn"].split() for row in rows], batch_size=2)
    for row, t in zip(rows, batched):
        assert t.path == row["wav"]
        one = r.align(row["wav"], phones=row["phn"].split()).segments
        assert [p for *_, p in t.segments] == [p for *_, p in one]
        assert [x for seg in t.segments for x in seg[:2]] == pytest.approx([x for seg in one for x in seg[:2]], abs=1e-6)
    with pytest.raises(ValueError, match="phones= or text="):
        r.align(rows[0]["wav"])
    with pytest.raises(ValueError, match="2 audio input"):
        r.align([rows[0]["wav"], rows[1]["wav"]], phones=[["sil"]])
    with pytest.raises(TranscribeError, match="not in the lexicon"):
        r.align(rows[0]["wav"], text="zyzzyva", lexicon={"she": ["sh", "iy"]})


def test_unusual_recordings_are_warned_about_naming_the_input(trained, caplog):
    """Silent, 30 dB too quiet, or band-limited input is decoded as it is, with a warning that says so."""
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    row = next(iter(manifest.values()))
    wave, sr = sf.read(row["wav"], dtype="float32")
    with caplog.at_level("WARNING", logger="phonerec.transcribe"):
        r.transcribe(row["wav"])
        assert caplog.messages == []  # an ordinary corpus file
        r.transcribe([wave * 10 ** (-40 / 20), np.zeros_like(wave)], sr)
        r.transcribe(sf.read(row["wav"], dtype="float32")[0][::2].copy(), sr // 2)
    quiet, silent, narrow = caplog.messages
    assert quiet.startswith("<waveform 0> is about ") and "dB quieter than the training recordings" in quiet
    assert silent.startswith("<waveform 1> is digital silence")
    assert narrow.startswith(f"<waveform 0> was recorded at {sr // 2} Hz")


def test_a_transcript_carries_the_warnings_that_are_logged(trained, tmp_path, caplog):
    """The warnings are the Transcript's too (and its JSON's), for a file or a waveform, recognised or aligned,
    so a caller need not listen to the log; the log lines stay."""
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu")
    row = next(iter(manifest.values()))
    wave, sr = sf.read(row["wav"], dtype="float32")
    silent_file = tmp_path / "silent.wav"
    sf.write(silent_file, np.zeros_like(wave), sr)
    with caplog.at_level("WARNING", logger="phonerec.transcribe"):
        normal, silent = r.transcribe([row["wav"], str(silent_file)])
        aligned = r.align(str(silent_file), phones=row["phn"].split())
        quiet = r.transcribe(wave * 10 ** (-40 / 20), sr)
    assert normal.warnings == [] and normal.to_dict()["warnings"] == []
    assert silent.warnings == [f"{silent_file} is digital silence (peak -inf dBFS): there is nothing to recognise"]
    assert silent.to_dict()["warnings"] == silent.warnings and aligned.warnings == silent.warnings
    assert len(quiet.warnings) == 1 and quiet.warnings[0].startswith("<waveform 0> is about ")
    assert caplog.messages == silent.warnings * 2 + quiet.warnings


def test_the_recognizer_describes_what_it_loaded(trained, tmp_path):
    """Recognizer.description: model.pt's entries (no weights), its card, the resolver's decoding line."""
    from phonerec.inference.bundled import bundled_card, bundled_model_path

    exp, _ = trained
    r = Recognizer.load(exp, device="cpu", method="beam", beam=4)
    about = r.description
    assert about.path == exp / "model.pt" and about.card is None
    assert "config" in about.info and "phones" in about.info and "model" not in about.info
    assert about.n_params == sum(p.numel() for p in r._t.model.parameters()) > 0
    assert about.decoding == r._t.settings.describe()
    assert about.decoding.startswith("beam 4,") and "method, beam: Recognizer.load" in about.decoding
    card_dir = tmp_path / "carded"
    card_dir.mkdir()
    (card_dir / "model.pt").write_bytes((exp / "model.pt").read_bytes())
    (card_dir / "card.json").write_text(json.dumps({"name": "mine"}))
    assert Recognizer.load(card_dir, device="cpu").description.card == {"name": "mine"}
    if bundled_model_path() is not None:
        bundled = Recognizer.load(device="cpu").description
        assert bundled.card == bundled_card() and bundled.path == bundled_model_path()
        assert "tuned on " in bundled.decoding


def test_fix_level_scales_only_a_recording_far_from_the_corpus_level(trained):
    from phonerec.features.levels import level_offset
    exp, manifest = trained
    r = Recognizer.load(exp, device="cpu", fix_level=True)
    t = r._t
    row = next(iter(manifest.values()))
    wave = t.load(row["wav"])
    assert t.leveled(wave) is wave  # an ordinary recording: untouched, so results do not move
    from phonerec.features.levels import FIX_NATS
    own = level_offset(t.fbank(wave), t.cmvn["mean"])
    assert abs(own) < FIX_NATS

    def at(nats):  # the recording scaled so that it is `nats` off the corpus level (a gain g shifts it by 2 ln g)
        return wave * math.exp((nats - own) / 2)
    slightly = at(-1.5)  # within the corpus's spread: untouched too
    assert t.leveled(slightly) is slightly
    somewhat = at(-3.5)  # beyond FIX_NATS (2.5 nats, ~11 dB) but not LEVEL_NATS: fixed, no warning
    assert -5 < level_offset(t.fbank(somewhat), t.cmvn["mean"]) < -2.5
    assert abs(level_offset(t.fbank(t.leveled(somewhat)), t.cmvn["mean"])) < 0.2
    quiet = wave * 10 ** (-40 / 20)
    assert level_offset(t.fbank(quiet), t.cmvn["mean"]) < -6  # beyond LEVEL_NATS
    assert abs(level_offset(t.fbank(t.leveled(quiet)), t.cmvn["mean"])) < 0.2
    fixed = r.transcribe(quiet.numpy(), r.sample_rate).phones
    assert fixed == r.transcribe(t.leveled(quiet).numpy(), r.sample_rate).phones
    assert fixed == Recognizer(type(t)(exp, "cpu")).transcribe(t.leveled(quiet).numpy(), r.sample_rate).phones


def test_per_utterance_cmvn_makes_a_model_indifferent_to_the_recording_gain(trained, tmp_path):
    """features.cmvn: utterance in a model's config reaches decoding: a recording 12 dB down gives (nearly) the
    posteriors of the original, where the global-CMVN model's move."""
    from phonerec.training import checkpoint
    exp, manifest = trained
    state = checkpoint.load(exp / "model.pt")
    state["config"]["features"]["cmvn"] = "utterance"
    (tmp_path / "utt").mkdir()
    checkpoint.save(state, tmp_path / "utt" / "model.pt")
    plain, per_utt = Recognizer.load(exp, device="cpu"), Recognizer.load(tmp_path / "utt", device="cpu")
    wave = plain._t.load(next(iter(manifest.values()))["wav"])

    def moved(r):  # largest change of a CTC log posterior
        return float(np.abs(r._t.posteriors(wave)[0] - r._t.posteriors(wave * 0.25)[0]).max())
    global_move, utt_move = moved(plain), moved(per_utt)
    assert global_move > 0.5 and utt_move < 0.05 * global_move, (global_move, utt_move)
