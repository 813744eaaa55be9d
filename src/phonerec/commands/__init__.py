"""The `phonerec` console command: `phonerec <command> [options]`, one module per command.

Each module has `main(argv) -> exit status`; `scripts/<name>.py` and `recipes/timit/run.sh` call
the same functions, so the installed command and the recipe never drift apart.
"""
from __future__ import annotations

import importlib
import sys

from phonerec import __version__
from phonerec.commands.cli import run

# command -> one line of help; the module phonerec.commands.<command> holds its main()
COMMANDS = {
    "prepare": "TIMIT, speechocean762 or LibriSpeech -> data/manifests/{train,dev,test}.json (or --combine several)",
    "features": "manifests -> log-mel feature caches and CMVN (data/fbank)",
    "train": "train a CTC model on cached features -> exp/<name>/model.pt",
    "relabel": "align the train phones of a corpus without times with a model -> data for the next round",
    "decode": "decode dev/test with a trained model (greedy, or beam + phone bigram LM)",
    "score": "PER on 39 phones (sil merged and sil optional), sclite-style summaries, report",
    "transcribe": "phones (and times) of your own audio files with a trained model",
    "align": "forced alignment: times of known phones (.PHN or phone list) in audio files",
    "synth": "generate the synthetic corpus in the LDC TIMIT layout",
    "smoke": "MNIST / CIFAR-10 smoke test of the training loop",
    "benchmark": "speed and memory figures of a config on a corpus",
    "baseline": "trivial PER baselines (no audio) for a prepared corpus",
    "serve": "local web page: record or upload speech, see its spectrogram and phone/word tiers, get a TextGrid",
    "stage": "is a recipe stage up to date by what it read? (run.sh asks before every stage)",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return ("usage: phonerec <command> [options]   (phonerec <command> --help for its options)\n\n"
            "commands:\n" + "\n".join(lines) + "\n\nPython: from phonerec import Recognizer\n")


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), end="")
        sys.exit(0 if argv else 2)
    if argv[0] in ("-V", "--version"):
        print(f"phonerec {__version__}")
        sys.exit(0)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"phonerec: unknown command {name!r}\n\n{usage()}", file=sys.stderr, end="")
        sys.exit(2)
    module = importlib.import_module(f"{__name__}.{name}")
    sys.argv[0] = f"phonerec {name}"  # argparse's usage line names the real command
    run(module.main, rest)
