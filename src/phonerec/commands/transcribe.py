"""Transcribe audio files into phones with a trained model.

  transcribe.py --model exp/crdnn a.wav b.flac some_folder/ list.txt
  transcribe.py --model exp/crdnn --timestamps --format textgrid --out aligned/ *.wav

Any sample rate (resampled) and channel count (down-mixed); wav, flac, sphere. A file that
cannot be transcribed gets a one-line error and the others are still done (exit status 1).
"""
from __future__ import annotations

import argparse
import logging
import sys

from phonerec.config import ConfigError
from phonerec.decoding.lm import LMError
from phonerec.fileio import write_text
from phonerec.inference.bundled import model_or_bundled
from phonerec.logs import setup_logging
from phonerec.training.checkpoint import CheckpointError
from phonerec.commands.inputs import expand_inputs, file_failure, output_path
from phonerec.transcribe import FORMATS, Transcriber, format_transcript

log = logging.getLogger("transcribe")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="audio files, folders, or list files (.txt/.lst/.scp)")
    p.add_argument("--model", help="experiment folder holding model.pt, or the model file "
                   "(default: the English model shipped with phonerec; its card: phonerec/resources/english/)")
    p.add_argument("--timestamps", action="store_true", help="start/end time per phone")
    p.add_argument("--format", choices=FORMATS, default="text", help="phn and textgrid imply --timestamps")
    p.add_argument("--out", help="write one file per input into this folder instead of printing")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fix-level", action="store_true",
                   help="scale a recording far quieter or louder than the training corpus back to its level")
    p.add_argument("--verbose", action="store_true", help="log at debug level: a failed file's traceback")
    p.add_argument("--decode-config", help="YAML with decode settings, or a decode_<split>/decode.json "
                   "(default: the model's own: those decode.py --tune stored in it, else its config's)")
    p.add_argument("--method", choices=["greedy", "beam"])
    p.add_argument("--beam", type=int)
    p.add_argument("--lm-weight", type=float, help="needs the LM a tuned model.pt carries, or lm_bigram.json beside it (made by decode.py)")
    p.add_argument("--insertion-bonus", type=float)
    p.add_argument("--blank-penalty", type=float, help="subtracted from the blank's log posterior")
    a = p.parse_args(argv)
    setup_logging(level=logging.DEBUG if a.verbose else logging.WARNING)
    overrides = {"method": a.method, "beam": a.beam, "lm_weight": a.lm_weight, "insertion_bonus": a.insertion_bonus,
                 "blank_penalty": a.blank_penalty}
    try:
        transcriber = Transcriber(model_or_bundled(a.model), a.device, decode_config=a.decode_config,
                                  overrides=overrides, fix_level=a.fix_level, caller="command line")
    except (CheckpointError, ConfigError, LMError) as e:
        log.error("%s", e)
        return 2
    # which model, decoding how, and where each setting came from (inference.decode_settings)
    print(f"{transcriber.loaded.path}: decodes with {transcriber.settings.describe()}", file=sys.stderr)
    inputs, problems = expand_inputs(a.inputs)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    timestamps = a.timestamps or a.format in ("phn", "textgrid")
    failed, taken = len(problems), set()
    for path, name in inputs:
        try:
            text = format_transcript(transcriber.transcribe(path, timestamps), a.format)
        except Exception as e:  # noqa: BLE001 - one bad input (or CUDA OOM) must not lose the others
            print(file_failure(path, e), file=sys.stderr)
            failed += 1
            continue
        if a.out:
            write_text(output_path(a.out, name, a.format, taken), text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    if failed:
        print(f"{failed} of {len(inputs) + len(problems)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0

