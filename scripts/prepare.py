#!/usr/bin/env python3
"""Stage prepare: TIMIT tree -> data/manifests/{train,dev,test}.json (SpeechBrain schema).

The code is phonerec.commands.prepare, also installed as `phonerec prepare`."""
from phonerec.commands.cli import run
from phonerec.commands.prepare import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
