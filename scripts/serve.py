#!/usr/bin/env python3
"""Start the local web page of phonerec (record or upload speech, see its phones).

The code is phonerec.commands.serve, also installed as `phonerec serve`."""
from phonerec.commands.cli import run
from phonerec.commands.serve import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
