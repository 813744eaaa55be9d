"""Errors every layer may raise, in a module that imports nothing heavy: `phonerec.commands.cli` catches
DependencyError around every command, and a command that never touches torch (`phonerec stage`, which run.sh
calls before and after every stage) must not import torch to do so."""
from __future__ import annotations


class DependencyError(RuntimeError):
    """A required library is missing or cannot be loaded; the message says how to fix it."""
