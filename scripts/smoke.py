#!/usr/bin/env python3
"""Smoke test of the trainer: fit a small CNN on MNIST or CIFAR-10 and print the test accuracy.

The code is phonerec.commands.smoke, also installed as `phonerec smoke`."""
from phonerec.commands.cli import run
from phonerec.commands.smoke import main  # noqa: F401  (tests call main)

if __name__ == "__main__":
    run(main)
