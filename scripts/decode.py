#!/usr/bin/env python3
"""Stage decode: exp/<name>/model.pt + cached features -> exp/<name>/decode_<split>/hyp.txt + decode.json.

The code is phonerec.commands.decode, also installed as `phonerec decode`."""
from phonerec.commands.cli import run
from phonerec.commands.decode import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
