"""recipes/english/local/synthesize.py: synthesized speech with the synthesizer's own phone times (the English
recipe's exact-times round). The labels' rules always; the synthesizers themselves where Debian's festival and
flite are installed (.ci/run installs them)."""
import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "recipes" / "english" / "local"))
import synthesize  # noqa: E402

from phonerec.phones import PHONES_61  # noqa: E402


def test_segments_tile_the_wave_with_timit_silences(tmp_path):
    seg = tmp_path / "a.seg"
    seg.write_text("0.1 pau\n0.2 hh\n0.25 ax\n0.3 pau\n0.31 pau\n0.31 t\n0.5 l\n0.7 pau\n")
    n = int(0.72 * 16000)
    assert synthesize.phone_segments(seg, n, 16000) == [
        (0, 1600, "h#"), (1600, 3200, "hh"), (3200, 4000, "ax"), (4000, 4960, "pau"),  # two pauses merged
        (4960, 8000, "l"), (8000, n, "h#")]  # the zero-length t dropped; the last segment ends at the last sample
    seg.write_text("0.1 pau\n0.2 xx\n")
    with pytest.raises(synthesize.SynthesisError, match=r"a\.seg: phone 'xx' is not a TIMIT symbol"):
        synthesize.phone_segments(seg, n, 16000)


def test_sentences_leave_out_held_out_speakers_and_are_cut_into_pieces(tmp_path):
    for spk, word in (("19", "alpha"), ("4406", "omega")):
        folder = tmp_path / spk / "1"
        folder.mkdir(parents=True)
        (folder / f"{spk}-1.trans.txt").write_text(f"{spk}-1-0000 " + " ".join([word.upper()] * 30) + "\n")
    pieces = synthesize.sentences(tmp_path, {"4406"}, seed=1)
    assert pieces and all(set(p.split()) == {"alpha"} and 8 <= len(p.split()) <= 14 for p in pieces)
    assert sum(len(p.split()) for p in pieces) > 30 - 8  # only a tail shorter than 8 words is left out
    assert pieces == synthesize.sentences(tmp_path, {"4406"}, seed=1)


needs_synthesizers = pytest.mark.skipif(
    not (shutil.which("festival") and shutil.which("cc") and Path("/usr/include/flite/flite.h").is_file()
         and Path("/usr/share/festival/voices/english/kal_diphone").is_dir()
         and Path("/usr/share/festival/voices/us/cmu_us_slt_arctic_hts").is_dir()),
    reason="Debian's festival festvox-kallpc16k festvox-us-slt-hts flite1-dev gcc are not installed")


@needs_synthesizers
def test_four_voices_write_a_timit_tree_and_a_manifest_the_same_each_time(tmp_path):
    words = "the quick brown fox jumps over a lazy dog while seven people watch it".split()
    corpus = tmp_path / "libri" / "19" / "198"
    corpus.mkdir(parents=True)
    (corpus / "19-198.trans.txt").write_text("".join(
        f"19-198-{k:04d} " + " ".join(words[k % 5:] + words[: k % 5]).upper() + "\n" for k in range(30)))
    script = REPO / "recipes" / "english" / "local" / "synthesize.py"

    def run(out):
        return subprocess.run([sys.executable, str(script), "--librispeech", str(tmp_path / "libri"), "--out", str(out),
                               "--per-voice", "1"], capture_output=True, text=True, timeout=300)

    done = run(tmp_path / "a")
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "a" / "manifests" / "train.json").read_text())
    assert sorted({r["spk_id"] for r in rows.values()}) == ["fslt0", "fslt1", "mkal0", "mrms0"] and len(rows) == 4
    for row in rows.values():
        wave, rate = sf.read(row["wav"], dtype="int16")
        ends = [int(e) for e in row["ground_truth_phn_ends"].split()]
        phones = row["phn"].split()
        assert rate == 16000 and ends[-1] == len(wave) == round(row["duration"] * 16000)
        assert ends == sorted(set(ends)) and len(ends) == len(phones) and phones[0] == phones[-1] == "h#"
        assert set(phones) <= set(PHONES_61) and not set(phones) & {"bcl", "dcl", "gcl", "pcl", "tcl", "kcl"}
        assert {"t", "k"} & set(phones) and len(phones) > 20  # a whole sentence of stops and vowels
        assert (Path(row["wav"]).with_suffix(".PHN")).read_text().splitlines()[0].startswith("0 ")
    assert not (tmp_path / "a" / "raw").exists()
    again = run(tmp_path / "b")  # the same inputs and packages: the same corpus
    assert again.returncode == 0, again.stderr
    cmp = filecmp.dircmp(tmp_path / "a" / "TIMIT", tmp_path / "b" / "TIMIT")
    assert not cmp.diff_files and not cmp.left_only
    for sub in ("TRAIN/DR1/MKAL0", "TRAIN/DR1/FSLT0", "TRAIN/DR1/MRMS0", "TRAIN/DR1/FSLT1"):
        files = sorted(p.name for p in (tmp_path / "a" / "TIMIT" / sub).iterdir())
        assert files and all(filecmp.cmp(tmp_path / "a" / "TIMIT" / sub / f, tmp_path / "b" / "TIMIT" / sub / f,
                                         shallow=False) for f in files)
    refused = run(tmp_path / "a")
    assert refused.returncode == 1 and "exists" in refused.stderr
    short = subprocess.run([sys.executable, str(script), "--librispeech", str(tmp_path / "libri"), "--out",
                            str(tmp_path / "c"), "--per-voice", "50"], capture_output=True, text=True, timeout=300)
    assert short.returncode == 1 and "sentences" in short.stderr and not (tmp_path / "c").exists()
