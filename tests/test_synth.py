"""Synthetic TIMIT generator: plan, phone sequences, files on disk, determinism, CLI."""
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from phonerec.corpora import synthetic as synth
from phonerec.corpora.synthetic import (
    CORE_TEST_SPEAKERS,
    DEV_SPEAKERS,
    LEXICON,
    PHONES_61,
    SA_TEXTS,
    plan_corpus,
    pronounce,
    read_sphere_header,
    sentence_words,
    synthesize_utterance,
    utterance_phones,
    write_speaker,
    write_sphere,
)
from phonerec.corpora.timit import standard_speaker_list

REPO = Path(__file__).resolve().parents[1]
CLOSURE = {"b": "bcl", "d": "dcl", "g": "gcl", "p": "pcl", "t": "tcl", "k": "kcl", "ch": "tcl", "jh": "dcl"}
PATH_RE = re.compile(r"(TRAIN|TEST)/DR([1-8])/([FM][A-Z]{3}\d)/(SA[12]|SX\d+|SI\d+)\.(WAV|PHN|WRD|TXT)")


def _cli():
    from phonerec.commands import synth as command  # `phonerec synth`, scripts/make_synthetic_timit.py

    return command


def _read_list(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _rows(path):
    return [(int(a), int(b), c) for a, b, c in (line.split() for line in path.read_text().splitlines())]


@pytest.fixture(scope="module")
def plan():
    return plan_corpus(0, 6)


# ----- constants and plan ------------------------------------------------------------


def test_constants_match_project_files():
    column1 = [line.split()[0] for line in (REPO / "src/phonerec/resources/phones.60-48-39.map").read_text().splitlines() if line.strip()]
    assert list(PHONES_61) == column1 and len(set(PHONES_61)) == 61
    assert list(CORE_TEST_SPEAKERS) == _read_list(standard_speaker_list("core_test"))
    assert list(DEV_SPEAKERS) == _read_list(standard_speaker_list("dev"))


def test_plan_speakers(plan):
    train = [s for s in plan if s.split == "TRAIN"]
    test = [s for s in plan if s.split == "TEST"]
    assert len(train) == 48 and len(test) == 32
    assert Counter(s.dialect for s in train) == {d: 6 for d in range(1, 9)}
    assert Counter(s.dialect for s in test) == {d: 4 for d in range(1, 9)}
    names = [s.name for s in plan]
    assert len(set(names)) == 80 and all(re.fullmatch(r"[FM][A-Z]{3}\d", n) for n in names)
    assert {s.gender for s in plan} == {"F", "M"}
    standard = set(CORE_TEST_SPEAKERS) | set(DEV_SPEAKERS)
    assert not {s.name.lower() for s in train} & standard
    for d in range(1, 9):
        here = {s.name.lower() for s in test if s.dialect == d}
        assert len(here & set(CORE_TEST_SPEAKERS[3 * d - 3 : 3 * d])) == 2  # core list is ordered by DR
        assert len(here & set(DEV_SPEAKERS)) == 1
        assert len(here - standard) == 1
    # TEST does not depend on the TRAIN size; another seed gives other speakers.
    assert [s for s in plan_corpus(0, 1) if s.split == "TEST"] == test
    assert {s.name for s in plan_corpus(1, 1) if s.split == "TRAIN"} != {s.name for s in plan_corpus(0, 1) if s.split == "TRAIN"}
    with pytest.raises(ValueError):
        plan_corpus(0, 0)


def test_plan_prompts(plan):
    text_of = defaultdict(set)
    readers = Counter()
    split_of = defaultdict(set)
    for s in plan:
        uids = [u.uid for u in s.utterances]
        assert len(uids) == 10 and uids[:2] == ["SA1", "SA2"]
        assert [u.text for u in s.utterances[:2]] == [SA_TEXTS["SA1"], SA_TEXTS["SA2"]]
        sx = [int(u[2:]) for u in uids if u.startswith("SX")]
        si = [int(u[2:]) for u in uids if u.startswith("SI")]
        assert len(sx) == 5 and all(3 <= n <= 452 for n in sx)
        assert len({n % 90 for n in sx}) == 1  # TIMIT reads SX b, b+90, ..., b+360
        assert len(si) == 3 and all(453 <= n <= 2342 for n in si)
        for u in s.utterances:
            text_of[u.uid].add(u.text)
            readers[u.uid] += 1
            split_of[u.uid].add(s.split)
            assert re.fullmatch(r"[A-Z][a-z' I]*[a-z]\.", u.text), u.text
            assert all(w in LEXICON for w in sentence_words(u.text))
    assert all(len(t) == 1 for t in text_of.values())  # one text per prompt id
    assert all(readers[u] == 4 for u in readers if u.startswith("SX"))  # shared prompts
    assert all(readers[u] == 1 for u in readers if u.startswith("SI"))  # unique prompts
    assert readers["SA1"] == readers["SA2"] == 80
    assert all(len(split_of[u]) == 1 for u in split_of if not u.startswith("SA"))  # no prompt in both


# ----- phone sequences ---------------------------------------------------------------


def test_lexicon_is_timit_phones():
    assert 150 <= len(LEXICON) <= 400
    base = {p for prons in LEXICON.values() for pron in prons for p in pron}
    assert base <= set(PHONES_61)
    assert not base & {"bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "h#", "pau", "epi", "q", "dx", "nx"}  # added by rule
    assert all(w in LEXICON for text in SA_TEXTS.values() for w in sentence_words(text))


@pytest.mark.parametrize("seed", [1, 2])
def test_other_seeds_cover_all_phones_too(seed):
    speakers = plan_corpus(seed, 6)
    for split in ("TRAIN", "TEST"):
        used = {p for s in speakers if s.split == split for u in s.utterances for p, _ in utterance_phones(seed, s, u)}
        assert used == set(PHONES_61), (seed, split)


def test_default_corpus_uses_all_61_phones_in_train_and_test(plan):
    used = {"TRAIN": Counter(), "TEST": Counter()}
    for s in plan:
        for u in s.utterances:
            phones = utterance_phones(0, s, u)
            used[s.split].update(p for p, _ in phones)
    for split, counts in used.items():
        assert set(counts) == set(PHONES_61), (split, set(PHONES_61) - set(counts))
    # realistic TIMIT statistics: h# twice per utterance, stops mostly released
    assert used["TRAIN"]["h#"] == 2 * 480
    assert used["TRAIN"]["tcl"] > used["TRAIN"]["t"] > 0.5 * used["TRAIN"]["tcl"]


def test_phone_sequences_follow_timit_conventions(plan):
    for s in plan[::7]:
        for u in s.utterances:
            seq = utterance_phones(0, s, u)
            phones = [p for p, _ in seq]
            assert phones[0] == phones[-1] == "h#" and "h#" not in phones[1:-1]
            for prev, p in zip(phones, phones[1:]):
                if p in CLOSURE:
                    assert prev == CLOSURE[p], (u.text, phones)
            word_ids = [w for _, w in seq if w is not None]
            assert word_ids == sorted(word_ids)
            assert set(word_ids) == set(range(len(sentence_words(u.text))))
            assert all(w is None for p, w in seq if p in ("h#", "pau"))


def test_pronounce_varies_like_timit():
    words = sentence_words(SA_TEXTS["SA1"])
    variants = {tuple(p for p, _ in pronounce(words, np.random.default_rng(i))) for i in range(40)}
    assert len(variants) > 20  # speakers label the same sentence differently
    flat = Counter(p for v in variants for p in v)
    for phone in ("dx", "hv", "ux", "q", "epi", "axr", "sh", "iy"):
        assert flat[phone] > 0, phone


# ----- files on disk (shared session corpus from conftest: seed 0, 1 TRAIN speaker per DR)


def test_corpus_layout(timit_tree):
    files = sorted(str(p.relative_to(timit_tree)) for p in timit_tree.rglob("*") if p.is_file())
    assert len(files) == 40 * 10 * 4
    matches = [PATH_RE.fullmatch(f) for f in files]
    assert all(matches), [f for f, m in zip(files, matches) if not m][:5]
    speakers = {(m[1], int(m[2]), m[3]) for m in matches}
    expected = {(s.split, s.dialect, s.name) for s in plan_corpus(0, 1)}
    assert speakers == expected
    assert Counter(sp for sp, _, _ in speakers) == {"TRAIN": 8, "TEST": 32}
    per_speaker = Counter((m[3], m[5]) for m in matches)
    assert set(per_speaker.values()) == {10}


def test_sphere_header_and_exact_readback(timit_tree):
    for wav in sorted(timit_tree.glob("TEST/DR3/*/S*.WAV"))[:6]:
        raw = wav.read_bytes()
        header, data = raw[:1024], np.frombuffer(raw[1024:], dtype="<i2")
        assert header.startswith(b"NIST_1A\n   1024\n")
        head_text = header.decode("ascii")
        end = head_text.index("end_head\n") + len("end_head\n")
        assert head_text[end:].strip() == ""  # padding only
        utt_id = f"{wav.parent.name}_{wav.stem}".lower()
        assert f"utterance_id -s{len(utt_id)} {utt_id}\n" in head_text
        assert read_sphere_header(wav) == {
            "database_id": "TIMIT", "database_version": "1.0", "utterance_id": utt_id, "channel_count": 1,
            "sample_count": len(data), "sample_max": int(data.max()), "sample_min": int(data.min()),
            "sample_rate": 16000, "sample_n_bytes": 2, "sample_byte_format": "01", "sample_sig_bits": 16,
        }
        info = sf.info(str(wav))
        assert info.format == "NIST" and info.subtype == "PCM_16" and info.samplerate == 16000
        samples, sr = sf.read(str(wav), dtype="int16")
        assert sr == 16000 and np.array_equal(samples, data)
        assert 1.2 <= len(data) / 16000 <= 4.0
        assert 2000 < np.abs(data).max() <= 32767


def test_write_sphere_roundtrip(tmp_path):
    samples = np.array([0, 1, -1, 32767, -32768, 1234, -4321] * 100, dtype=np.int16)
    path = tmp_path / "x.wav"
    write_sphere(path, samples, 16000, "abc0_sx3")
    assert path.stat().st_size == 1024 + 2 * len(samples)
    back, sr = sf.read(str(path), dtype="int16")
    assert sr == 16000 and np.array_equal(back, samples)


def test_labels(timit_tree):
    n_utts = 0
    for phn in sorted(timit_tree.rglob("*.PHN")):
        n = read_sphere_header(phn.with_suffix(".WAV"))["sample_count"]
        rows = _rows(phn)
        assert rows[0][0] == 0 and rows[-1][1] == n
        assert rows[0][2] == rows[-1][2] == "h#"
        assert all(a < b for a, b, _ in rows)
        assert all(b == a2 for (_, b, _), (a2, _, _) in zip(rows, rows[1:]))  # contiguous
        assert {p for _, _, p in rows} <= set(PHONES_61)
        txt = phn.with_suffix(".TXT").read_text()
        m = re.fullmatch(r"0 (\d+) (.+)\n", txt)
        assert m and int(m[1]) == n
        words = _rows(phn.with_suffix(".WRD"))
        assert [w for _, _, w in words] == sentence_words(m[2])
        bounds = {a for a, _, _ in rows} | {n}
        assert rows[0][1] <= words[0][0] and words[-1][1] <= rows[-1][0]  # inside the speech
        assert all(a < b and a in bounds and b in bounds for a, b, _ in words)
        assert all(b <= a2 for (_, b, _), (a2, _, _) in zip(words, words[1:]))
        n_utts += 1
    assert n_utts == 400


def test_acoustics_carry_the_phones(timit_tree):
    """Speech is well above the silences, and /s/ is higher-pitched noise than /sh/."""
    level = defaultdict(list)
    centroid = defaultdict(list)
    freqs = np.fft.rfftfreq(512, 1 / 16000)
    for wav in sorted(timit_tree.glob("TRAIN/*/*/S*.WAV"))[:40]:
        x, _ = sf.read(str(wav))
        for a, b, p in _rows(wav.with_suffix(".PHN")):
            seg = x[a:b]
            level[p].append(10 * np.log10(np.mean(seg**2) + 1e-12))
            if p in ("s", "sh") and b - a >= 512:
                spec = np.abs(np.fft.rfft(seg[:512] * np.hanning(512))) ** 2
                centroid[p].append((spec * freqs).sum() / spec.sum())
    vowels = np.mean([v for p in ("aa", "ae", "iy", "ah", "eh") for v in level[p]])
    assert vowels - np.mean(level["h#"]) > 15
    assert vowels - np.mean(level["tcl"] + level["pcl"] + level["kcl"]) > 10
    assert np.mean(centroid["s"]) > np.mean(centroid["sh"]) + 500


# ----- determinism ---------------------------------------------------------------------


def test_same_seed_same_bytes_whatever_the_order(timit_tree, tmp_path):
    speakers = plan_corpus(0, 1)
    chosen = [speakers[-1], speakers[0]]  # a TEST then a TRAIN speaker, one process
    for s in chosen:
        write_speaker(tmp_path / "again", s, seed=0)
    for s in chosen:
        rel = Path(s.split, f"DR{s.dialect}", s.name)
        for f in sorted((timit_tree / rel).iterdir()):
            assert (tmp_path / "again" / rel / f.name).read_bytes() == f.read_bytes(), f
    other = synthesize_utterance(1, chosen[0], chosen[0].utterances[4])
    same = synthesize_utterance(0, chosen[0], chosen[0].utterances[4])
    wav = timit_tree / chosen[0].split / f"DR{chosen[0].dialect}" / chosen[0].name / f"{chosen[0].utterances[4].uid}.WAV"
    assert np.array_equal(same.samples, np.frombuffer(wav.read_bytes()[1024:], "<i2"))
    assert len(other.samples) != len(same.samples) or not np.array_equal(other.samples, same.samples)
    assert other.phones != same.phones


# ----- CLI and options -------------------------------------------------------------------


def test_lowercase_riff_corpus(timit_tree, tmp_path):
    out = tmp_path / "corpus"
    summary = synth.generate_corpus(out, seed=0, train_speakers_per_dr=1, lowercase=True, audio_format="riff")
    assert summary["train"]["speakers"] == 8 and summary["test"]["speakers"] == 32
    assert summary["train"]["utterances"] == 80 and summary["test"]["utterances"] == 320 and summary["utterances"] == 400
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert len(files) == 1600 and all(f == f.lower() for f in files)
    assert all(PATH_RE.fullmatch(f.upper()) for f in files)
    n_samples = sum(sf.info(str(p)).frames for p in out.rglob("*.wav"))
    assert summary["seconds"] == pytest.approx(n_samples / 16000) and 400 * 1.2 < summary["seconds"] < 400 * 3.2
    wav = out / "test/dr1" / sorted(p.name for p in (out / "test/dr1").iterdir())[0] / "sa1.wav"
    info = sf.info(str(wav))
    assert info.format == "WAV" and info.subtype == "PCM_16" and info.samplerate == 16000
    upper = timit_tree / "TEST/DR1" / wav.parent.name.upper() / "SA1.WAV"
    riff, _ = sf.read(str(wav), dtype="int16")
    assert np.array_equal(riff, np.frombuffer(upper.read_bytes()[1024:], "<i2"))  # same audio, other container
    for ext in ("phn", "wrd", "txt"):
        assert wav.with_suffix(f".{ext}").read_text() == upper.with_suffix(f".{ext.upper()}").read_text()


def test_cli_refuses_non_empty_and_replaces_atomically(tmp_path, monkeypatch):
    cli = _cli()
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "old.txt").write_text("old corpus")
    assert cli.main(["--out", str(out)]) == 1
    assert (out / "old.txt").exists()

    def interrupted(root, **kwargs):
        (Path(root) / "TRAIN").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "generate_corpus", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["--out", str(out), "--force"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"] and (out / "old.txt").exists()

    calls = []

    def complete(root, **kwargs):
        calls.append(kwargs)
        (Path(root) / "TRAIN").mkdir(parents=True)
        part = {"speakers": 1, "utterances": 10, "seconds": 20.0}
        return {"train": part, "test": part, "speakers": 2, "utterances": 20, "seconds": 40.0, "elapsed": 0.1}

    monkeypatch.setattr(cli, "generate_corpus", complete)
    args = ["--out", str(out), "--force", "--seed", "3", "--train-speakers-per-dr", "2", "--lowercase", "--riff"]
    assert cli.main(args) == 0
    assert calls == [dict(seed=3, train_speakers_per_dr=2, lowercase=True, audio_format="riff", workers=None)]
    assert sorted(p.name for p in out.iterdir()) == ["TRAIN"]  # old corpus replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]
    fresh = tmp_path / "new" / "corpus"  # a missing --out (and parent) is created
    assert cli.main(["--out", str(fresh)]) == 0 and (fresh / "TRAIN").is_dir()
    assert calls[-1] == dict(seed=0, train_speakers_per_dr=6, lowercase=False, audio_format="sphere", workers=None)


def test_generate_corpus_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError):
        synth.generate_corpus(tmp_path, audio_format="flac")
