"""The `phonerec` command: every stage behind one entry point, and an installed (non-editable)
package that works from any folder."""
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import export_tiny_model

from phonerec.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def _phonerec(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "phonerec", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_every_command_has_a_main_and_its_script_calls_the_same():
    for name in COMMANDS:
        module = importlib.import_module(f"phonerec.commands.{name}")
        assert callable(module.main)
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    assert scripts >= set(COMMANDS) - {"synth"} and "make_synthetic_timit" in scripts


def test_help_lists_every_command_and_each_command_parses_its_options():
    out = _phonerec("--help")
    assert out.returncode == 0 and all(f"  {name} " in out.stdout for name in COMMANDS)
    out = _phonerec("score", "--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: phonerec score") and "--exp" in out.stdout
    bad = _phonerec("scroe")
    assert bad.returncode == 2 and "unknown command 'scroe'" in bad.stderr


def test_installed_package_works_from_any_folder(tmp_path):
    """`pip install .` (a built wheel, not the checkout), then the command and the README's Python example
    run from an unrelated folder."""
    site = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    export_tiny_model(tmp_path / "exp")
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "a.wav", (rng.standard_normal(16000) * 0.1).astype("float32"), 16000)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import phonerec; print(phonerec.__file__)"], cwd=away, env=env,
                           capture_output=True, text=True)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr  # the installed copy, not src/
    command = site / "bin" / "phonerec"
    help_out = subprocess.run([sys.executable, str(command), "--help"], cwd=away, env=env, capture_output=True, text=True)
    assert help_out.returncode == 0 and "transcribe" in help_out.stdout
    out = subprocess.run([sys.executable, str(command), "transcribe", "--model", str(tmp_path / "exp"),
                          "--timestamps", "--format", "json", str(tmp_path / "a.wav")],
                         cwd=away, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and '"duration": 1.0' in out.stdout, out.stderr[-2000:]
    # no --model: the English model the package ships (src/phonerec/resources/english), from the installed copy
    assert (site / "phonerec" / "resources" / "english" / "model.pt").is_file()
    bundled = subprocess.run([sys.executable, str(command), "transcribe", str(tmp_path / "a.wav")], cwd=away, env=env,
                             capture_output=True, text=True, timeout=300)
    assert bundled.returncode == 0 and bundled.stdout.startswith(f"{tmp_path / 'a.wav'}: "), bundled.stderr[-2000:]
    assert "resources/english/model.pt: decodes with beam" in bundled.stderr
    loads = subprocess.run([sys.executable, "-c", "from phonerec import Recognizer; print(len(Recognizer.load(device="
                            "'cpu').phones))"], cwd=away, env=env, capture_output=True, text=True, timeout=300)
    assert loads.returncode == 0 and loads.stdout.strip() == "48", loads.stderr[-2000:]
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    example = example.replace("recipes/timit/exp/crdnn_quick", str(tmp_path / "exp")).replace("my.wav", str(tmp_path / "a.wav"))
    ran = subprocess.run([sys.executable, "-c", example], cwd=away, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
