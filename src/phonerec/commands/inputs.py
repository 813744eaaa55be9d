"""What the transcribe and align commands do around the library: turn files, folders and list files
into (audio, output name) pairs, name output files without overwriting, and report one failed input
in one line so a batch goes on."""
from __future__ import annotations

import logging
from pathlib import Path

from phonerec.features.audio import AUDIO_SUFFIXES
from phonerec.inference.recording import TranscribeError

log = logging.getLogger(__name__)

LIST_SUFFIXES = (".txt", ".lst", ".list", ".scp")
EXTENSIONS = {"text": ".txt", "json": ".json", "phn": ".phn", "textgrid": ".TextGrid"}


def expand_inputs(items: list) -> tuple[list[tuple[Path, str]], list[str]]:
    """Files, folders (searched recursively for audio) and list files (one path, or `utt_id path`,
    per line; '#' comments; relative paths are relative to the list) -> ([(audio path, output
    name)], problems). A file found in a folder is named by its path inside that folder (so
    `--out` mirrors TIMIT's speaker folders), any other file by its name, extensions dropped."""
    found, problems = [], []
    for item in map(Path, items):
        if item.is_dir():
            files = sorted(f for f in item.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                problems.append(f"{item}: folder holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
            found += [(f, str(f.relative_to(item).parent / output_stem(f))) for f in files]
        elif item.suffix.lower() in LIST_SUFFIXES and item.is_file():
            for line in item.read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    p = Path(line)
                    if not p.exists() and len(line.split()) > 1:  # Kaldi-style `utt_id path`
                        p = Path(line.split()[-1])
                    p = p if p.is_absolute() or p.exists() else item.parent / p
                    found.append((p, output_stem(p)))
        else:
            found.append((item, output_stem(item)))  # a missing or unreadable file is reported when transcribed
    return found, problems


def output_stem(path: Path) -> str:
    """Output name of an audio file: its name up to the first dot (SA1.WAV.wav -> SA1)."""
    return path.name.split(".")[0] or "audio"


def output_path(out_dir, name: str, fmt: str, taken: set) -> Path:
    """`out_dir/<name><ext>`; a second input with the same name gets `<name>-2` (never overwrites)."""
    base, n = name, 1
    while name.lower() in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name.lower())
    return Path(out_dir) / (name + EXTENSIONS[fmt])


def file_failure(path, error: Exception) -> str:
    """The one-line `error: ...` a command prints for one input that failed, so a batch of files goes on.
    A TranscribeError already names the file; anything else (CUDA out of memory, a bug) gets the path and
    its type, and its traceback goes to the debug log."""
    if isinstance(error, TranscribeError):
        return f"error: {error}"
    log.debug("%s failed", path, exc_info=error)
    return f"error: {path}: {type(error).__name__}: {error}"
