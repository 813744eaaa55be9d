"""`python -m phonerec <command>`: the same as the installed `phonerec` command."""
from phonerec.commands import main

main()
