#!/usr/bin/env python3
"""Stage train: cached features + config -> exp/<name>/model.pt (best dev PER), checkpoints, history.

The code is phonerec.commands.train, also installed as `phonerec train`."""
from phonerec.commands.cli import run
from phonerec.commands.train import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
