#!/usr/bin/env python3
"""Stage 0: write the synthetic TIMIT corpus (LDC layout, SPHERE audio) into --out.

The code is phonerec.commands.synth, also installed as `phonerec synth`."""
from phonerec.commands.cli import run
from phonerec.commands.synth import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
