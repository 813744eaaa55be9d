#!/usr/bin/env python3
"""Transcribe audio files into phones with a trained model.

The code is phonerec.commands.transcribe, also installed as `phonerec transcribe`."""
from phonerec.commands.cli import run
from phonerec.commands.transcribe import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
