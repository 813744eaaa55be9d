#!/usr/bin/env python3
"""Stage features: data/manifests/<split>.json -> data/fbank/<split>.{pt,f16,json} + cmvn.json (train only).

The code is phonerec.commands.features, also installed as `phonerec features`."""
from phonerec.commands.cli import run
from phonerec.commands.features import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
