"""`python -m phonerec <command>`: the same as the installed `phonerec` command."""
from .commands import main

main()
