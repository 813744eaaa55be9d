#!/usr/bin/env python3
"""Trivial baselines for the recipe README: what a recognizer that ignores the audio scores.

The code is phonerec.commands.baseline, also installed as `phonerec baseline`."""
from phonerec.commands.baseline import main  # noqa: F401  (tests call main)
from phonerec.commands.cli import run

if __name__ == "__main__":
    run(main)
