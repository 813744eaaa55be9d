#!/usr/bin/env python3
"""What levels, microphones, silence, clipping and band limits do to the PER of real recordings, and what
`--fix-level` gives back: each condition is applied to the first --n utterances of a manifest and
decoded with the Python API; PER on the 39 folded phones (the sil_merged convention).

  python scripts/level_effects.py --model recipes/speechocean762/exp/crdnn_cpu \
      --manifest recipes/speechocean762/data/manifests/test.json --n 80
"""
from __future__ import annotations

import argparse
import json
import logging
import re

import torch

from phonerec import Recognizer
from phonerec.evaluation.per import score
from phonerec.features import dsp


def _db(x: torch.Tensor, db: float) -> torch.Tensor:
    return x * 10 ** (db / 20)


CONDITIONS = {
    "original": lambda x, sr: (x, sr),
    "-10 dB": lambda x, sr: (_db(x, -10), sr),
    "-20 dB": lambda x, sr: (_db(x, -20), sr),
    "+10 dB, clipped": lambda x, sr: (_db(x, 10).clamp(-1, 1), sr),
    "-30 dB": lambda x, sr: (_db(x, -30), sr),
    "-50 dB": lambda x, sr: (_db(x, -50), sr),
    "+20 dB, clipped": lambda x, sr: (_db(x, 20).clamp(-1, 1), sr),
    "brighter microphone": lambda x, sr: (dsp.microphone(x, sr, "bright"), sr),
    "duller microphone": lambda x, sr: (dsp.microphone(x, sr, "dull"), sr),
    "+8 dB at 3 kHz": lambda x, sr: (dsp.microphone(x, sr, "presence"), sr),
    "300 Hz - 4 kHz handset": lambda x, sr: (dsp.microphone(x, sr, "band"), sr),
    "8 kHz, resampled to 16 kHz": lambda x, sr: (dsp.resample(dsp.resample(x, sr, 8000), 8000, sr), sr),
    "8 kHz file": lambda x, sr: (dsp.resample(x, sr, 8000), 8000),
    "2 s digital silence each side": lambda x, sr: (torch.cat([torch.zeros(2 * sr), x, torch.zeros(2 * sr)]), sr),
    "white noise at -60 dBFS": lambda x, sr: (x + 1e-3 * torch.randn(len(x), generator=torch.Generator().manual_seed(0)),
                                              sr),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--n", type=int, default=80)
    a = p.parse_args(argv)
    rows = list(json.load(open(a.manifest)).items())[: a.n]
    refs = {utt: row["phn"].split() for utt, row in rows}
    plain, fixed = Recognizer.load(a.model, "cpu"), Recognizer.load(a.model, "cpu", fix_level=True)
    waves = [plain._t.load(row["wav"]) for _, row in rows]
    warnings = []
    logging.getLogger("phonerec.transcribe").addHandler(_Collect(warnings))
    print(f"{len(rows)} utterances of {a.manifest}; PER % (sil_merged), as is / with fix_level; warnings")
    for name, make in CONDITIONS.items():
        inputs = [make(w, plain.sample_rate) for w in waves]
        pers = []
        for r in (plain, fixed):
            warnings.clear()
            hyps = {utt: r.transcribe(x.numpy(), sr, timestamps=False).phones
                    for (utt, _), (x, sr) in zip(rows, inputs)}
            pers.append(score(refs, hyps)[0].per)
            if r is plain:
                said = [w.split("> ", 1)[-1] for w in warnings]  # "<waveform> is clipped (0.52 % ..."
                kinds = sorted({re.sub(r" [(\d].*", "", text) for text in said})  # "is clipped", "is about"
        print(f"{name:32s} {pers[0]:6.2f} {pers[1]:6.2f}  {len(said):3d} warnings  {'; '.join(kinds)}")
    return 0


class _Collect(logging.Handler):
    def __init__(self, out: list):
        super().__init__(logging.WARNING)
        self.out = out

    def emit(self, record):
        self.out.append(record.getMessage())


if __name__ == "__main__":
    raise SystemExit(main())
