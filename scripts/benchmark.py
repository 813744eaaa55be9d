#!/usr/bin/env python3
"""Benchmark: speed and memory figures of a config on a corpus (see `phonerec benchmark --help`).

The code is phonerec.commands.benchmark, also installed as `phonerec benchmark`."""
from phonerec.commands.benchmark import main  # noqa: F401  (tests call main)
from phonerec.commands.cli import run

if __name__ == "__main__":
    run(main)
