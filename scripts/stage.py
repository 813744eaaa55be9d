#!/usr/bin/env python3
"""Is a recipe stage up to date by what it read (phonerec.records)? run.sh asks before every stage.

The code is phonerec.commands.stage, also installed as `phonerec stage`."""
from phonerec.commands.cli import run
from phonerec.commands.stage import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
