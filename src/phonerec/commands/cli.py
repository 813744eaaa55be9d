"""What every command does around its `main`: a broken install is one line, not a traceback."""
from __future__ import annotations

import sys

from phonerec.errors import DependencyError


def run(main, argv=None) -> None:
    """Call `main(argv)` and exit with its status; a DependencyError prints one line, status 2."""
    try:
        code = main(argv)
    except DependencyError as e:
        print(f"error: {e}", file=sys.stderr)
        code = 2
    sys.exit(code)
