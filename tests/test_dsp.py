"""torchaudio behind one module: the tested pair is the one installed, a broken one is one line."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from phonerec.features import dsp

ROOT = Path(__file__).resolve().parents[1]

# Makes `import torchaudio` fail as a mismatched build does (OSError from its compiled library).
BROKEN_TORCHAUDIO = """
import sys
class Broken:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torchaudio":
            raise OSError("Could not load this library: libtorchaudio.so: undefined symbol: "
                          "torch_exception_get_what_without_backtrace\\nsecond line of the loader's message")
sys.meta_path.insert(0, Broken())
sys.argv = ["features.py"] + sys.argv[1:]
sys.path.insert(0, {scripts!r})
import features
from phonerec.commands.cli import run
run(features.main, sys.argv[1:])
"""


def test_pyproject_admits_and_the_lock_pins_the_tested_pair():
    deps = re.findall(r'^\s*"([^"]+)",?$', (ROOT / "pyproject.toml").read_text(), re.M)
    lock = (ROOT / "requirements.lock").read_text()
    from packaging.requirements import Requirement

    ranges = {r.name: r.specifier for r in map(Requirement, deps) if r.name in dsp.TESTED}
    for name, version in dsp.TESTED.items():
        # pyproject admits the tested release (a range, for people installing into their own environment) ...
        assert version in ranges[name] and "2.12.0" not in ranges[name], f"pyproject.toml: {name}{ranges[name]}"
        # ... and the lock, what make installs, pins exactly it
        assert re.search(rf"^{name}=={re.escape(version)}\b", lock, re.M), f"requirements.lock lacks {name}=={version}"
    assert torch.__version__.split("+")[0] == dsp.TESTED["torch"]


def test_no_torchaudio_import_outside_dsp():
    offenders = [str(p.relative_to(ROOT)) for p in [*(ROOT / "src").rglob("*.py"), *(ROOT / "scripts").glob("*.py")]
                 if p.name != "dsp.py" and re.search(r"^\s*(import|from)\s+torchaudio", p.read_text(), re.M)]
    assert offenders == []


def test_broken_torchaudio_is_one_line_naming_versions_and_fix(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("features:\n  n_mels: 40\n")
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "train.json").write_text("{}")
    code = BROKEN_TORCHAUDIO.format(scripts=str(ROOT / "scripts"))
    r = subprocess.run([sys.executable, "-c", code, "--data", str(tmp_path), "--config", str(cfg), "--splits", "train"],
                       capture_output=True, text=True, timeout=120)
    errors = [ln for ln in r.stderr.splitlines() if "torchaudio" in ln]
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(errors) == 1, r.stderr
    line = errors[0]
    assert f"with torch {torch.__version__}" in line and "undefined symbol" in line
    assert "pip install torch==2.11.0 torchaudio==2.11.0" in line and "second line" not in line


def test_microphone_colourings_tilt_the_spectrum_the_way_they_say():
    """dsp.microphone (level_effects.py's channel conditions): band power in dB after minus before."""
    noise = 0.05 * torch.randn(32000, generator=torch.Generator().manual_seed(0))  # torchaudio's biquads clip at 1
    spec = lambda x: (torch.stft(x, 512, window=torch.hann_window(512), return_complex=True).abs() ** 2).mean(-1)
    hz = torch.fft.rfftfreq(512, 1 / 16000)
    def gain_db(kind, lo, hi):
        band = (hz >= lo) & (hz < hi)
        return float(10 * torch.log10(spec(dsp.microphone(noise, 16000, kind))[band].mean() / spec(noise)[band].mean()))
    assert gain_db("bright", 4000, 8000) - gain_db("bright", 100, 500) > 15
    assert gain_db("dull", 100, 500) - gain_db("dull", 4000, 8000) > 15
    assert 6 < gain_db("presence", 2800, 3200) < 9 and abs(gain_db("presence", 100, 500)) < 1.5
    assert gain_db("band", 1000, 2000) > -1.5 and gain_db("band", 0, 150) < -6 and gain_db("band", 6000, 8000) < -15
    with pytest.raises(ValueError, match="unknown microphone"):
        dsp.microphone(noise, 16000, "tin can")
