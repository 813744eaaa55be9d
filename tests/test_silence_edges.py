"""scripts/silence_edges.py: the energy edges of a recording and the silence edges of its labels."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import silence_edges  # noqa: E402


def test_energy_and_label_edges_and_the_report(tmp_path, capsys):
    sr, rng = 16000, np.random.default_rng(0)
    x = rng.standard_normal(2 * sr) * 1e-4  # a quiet floor ...
    x[int(0.5 * sr) : int(1.5 * sr)] += 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)  # ... sound 0.5-1.5 s
    sf.write(tmp_path / "a.wav", x.astype(np.float32), sr)
    first, last = silence_edges.energy_edges(str(tmp_path / "a.wav"))
    assert abs(first - 0.5) <= 0.02 and abs(last - 1.5) <= 0.02, (first, last)
    row = {"wav": str(tmp_path / "a.wav"), "phn": "h# aa h#", "ground_truth_phn_ends": "8480 24000 32000"}
    assert silence_edges.label_edges(row) == (0.53, 1.5)  # 30 ms after the sound starts
    (tmp_path / "m.json").write_text(json.dumps({"u1": row}))
    assert silence_edges.main(["--n", "5", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    onset = int(re.search(r"onset median ([+-]\d+) ms", out).group(1))
    assert "1 utterances" in out and "within 50 ms 100.0 %" in out and 25 <= onset <= 45, out
