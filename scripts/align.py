#!/usr/bin/env python3
"""Forced alignment: time-align known phones (a .PHN or phone list) to audio with a trained model.

The code is phonerec.commands.align, also installed as `phonerec align`."""
from phonerec.commands.align import main  # noqa: F401  (tests call main)
from phonerec.commands.cli import run

if __name__ == "__main__":
    run(main)
