#!/usr/bin/env python3
"""Stage relabel: a model aligns the train phones of a corpus without times -> a data folder for the next round.

The code is phonerec.commands.relabel, also installed as `phonerec relabel`."""
from phonerec.commands.cli import run
from phonerec.commands.relabel import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
