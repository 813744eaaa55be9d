#!/usr/bin/env python3
"""Stage score: decode_<split>/hyp.txt + manifest references -> per.json, per_utt.txt, and the

The code is phonerec.commands.score, also installed as `phonerec score`."""
from phonerec.commands.cli import run
from phonerec.commands.score import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
