"""Shared fixtures: one small synthetic TIMIT tree per session, and ways to reshape it
into the layouts users' copies come in (lower case, RIFF audio, extra folder levels)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from phonerec.synth import generate_corpus


@pytest.fixture(scope="session")
def timit_tree(tmp_path_factory) -> Path:
    """A small synthetic corpus in the LDC layout (upper case, SPHERE). Do not modify: copy it."""
    root = tmp_path_factory.mktemp("corpus") / "TIMIT"
    generate_corpus(root, seed=0, train_speakers_per_dr=1)
    return root


def copy_tree(src: Path, dst: Path, *, lowercase=False, riff=False, wav_suffix=None) -> Path:
    """Copy a TIMIT tree, optionally lower-casing every path, converting audio to RIFF
    and renaming audio files to `wav_suffix` (e.g. '.WAV.wav' or '.wav')."""
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(src)
        rel = Path(str(rel).lower()) if lowercase else rel
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix.lower() == ".wav":
            if wav_suffix:
                target = target.with_name(target.name.split(".")[0] + wav_suffix)
            if riff:
                data, sr = sf.read(f, dtype="int16")
                sf.write(target, data, sr, subtype="PCM_16", format="WAV")
                continue
        shutil.copyfile(f, target)
    return dst


def write_riff(path: Path, n_samples: int, sr: int = 16000) -> None:
    sf.write(path, np.zeros(n_samples, dtype=np.int16), sr, subtype="PCM_16", format="WAV")
