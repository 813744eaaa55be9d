"""JSON manifests in SpeechBrain's TIMIT schema: read, write (atomically), validate.

`{"<spk>_<utt>": {"wav": abs path, "duration": s, "spk_id": str, "phn": "h# sh ix ...",
"wrd": "...", "ground_truth_phn_ends": "end sample of each phone"}}` with raw 61-phone labels.
A corpus without phone times may add "word_starts": the index in "phn" of each word's first phone,
so that relabelling can put an optional pause between words (experiment.relabel).
"""
from __future__ import annotations

import json
from pathlib import Path

from phonerec.fileio import write_json
from phonerec.phones import FOLD_48, FOLD_48_TO_39, PHONES_39

REQUIRED_KEYS = ("wav", "duration", "spk_id", "phn")
_KNOWN_PHONES = set(FOLD_48) | set(FOLD_48_TO_39) | set(PHONES_39)


class ManifestError(ValueError):
    """A manifest is unreadable or has bad entries; the message lists every one."""


def write_manifest(path, rows: dict) -> None:
    write_json(path, rows)


def read_manifest(path, *, validate: bool = True, check_files: bool = True) -> dict:
    """Read a manifest; with `validate`, raise ManifestError listing every bad entry."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found (run the prepare stage first)") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(rows, dict):
        raise ManifestError(f"{path}: expected a JSON object keyed by utterance id")
    if validate:
        problems = manifest_problems(rows, check_files=check_files)
        if problems:
            listing = "\n  ".join(problems)
            raise ManifestError(f"{path}: {len(problems)} bad entr{'y' if len(problems) == 1 else 'ies'}:\n  {listing}")
    return rows


def manifest_problems(rows: dict, *, check_files: bool = True) -> list[str]:
    """Return one message per bad entry (missing key, bad duration, unknown phone, missing wav)."""
    problems = []
    for utt_id, row in rows.items():
        if not isinstance(row, dict):
            problems.append(f"{utt_id}: entry is not an object")
            continue
        missing = [k for k in REQUIRED_KEYS if k not in row]
        if missing:
            problems.append(f"{utt_id}: missing key(s) {', '.join(missing)}")
            continue
        if not isinstance(row["duration"], (int, float)) or row["duration"] <= 0:
            problems.append(f"{utt_id}: duration must be a positive number, got {row['duration']!r}")
        phones = str(row["phn"]).split()
        if not phones:
            problems.append(f"{utt_id}: empty phone transcription")
        unknown = sorted(set(phones) - _KNOWN_PHONES)
        if unknown:
            problems.append(f"{utt_id}: unknown phone(s) {' '.join(unknown)}")
        if check_files and not Path(row["wav"]).is_file():
            problems.append(f"{utt_id}: audio file {row['wav']} does not exist")
    return problems
