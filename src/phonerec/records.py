"""Stage records: a stage is up to date exactly when what it read, and the settings it ran with, are
what it would read and run with now (Kaldi's rule, not make's timestamps: `touch` reruns nothing).

A record is a small JSON file a stage writes after it succeeded:
    {"inputs": {name: {"path": ..., "digest": ...}}, "settings": {key: value}, "outputs": [paths]}
An input's digest is its content:
- a file: sha256 of its bytes;
- a folder written by a stage (it holds that stage's record, RECORD_NAME): the digest of that record's
  inputs and settings, so a feature cache of gigabytes is known by what it was made from;
- any other folder (a corpus): every file's relative path, size and bytes. A file's digest is kept in
  a cache beside the record (RECORD.files.json), keyed by size and modification time, so a corpus of
  100 hours is read once; a touched file is read again and, unchanged, gives the same digest.
Symbolic links are followed. Nothing here imports torch: run.sh asks before every stage.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from phonerec.fileio import write_json

RECORD_NAME = ".stage.json"  # the record of a stage whose output is a folder lives inside it
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def record_digest(record: dict) -> str:
    """What a record says was read and set, as one digest (not when it was written)."""
    body = {"inputs": {k: v.get("digest") for k, v in record.get("inputs", {}).items()},
            "settings": record.get("settings", {})}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def folder_digest(path: Path, cache: dict | None = None) -> str:
    """Digest of every file under `path` (relative path and content); `cache` ({absolute path: [size,
    mtime_ns, digest]}) spares reading a file whose size and time are as they were, and is updated."""
    cache = {} if cache is None else cache
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            f = Path(root) / name
            st = f.stat()
            known = cache.get(str(f))
            if not known or known[:2] != [st.st_size, st.st_mtime_ns]:
                known = cache[str(f)] = [st.st_size, st.st_mtime_ns, file_digest(f)]
            h.update(f"{f.relative_to(path).as_posix()}\0{known[2]}\0".encode())
    return h.hexdigest()


def digest(path, cache: dict | None = None) -> str | None:
    """The content digest of an input (module doc), or None when it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    if path.is_dir():
        record = path / RECORD_NAME
        if record.is_file():
            return "record:" + record_digest(read_record(record) or {})
        return "tree:" + folder_digest(path, cache)
    return "sha256:" + file_digest(path)


def _cache_path(record_path) -> Path:
    return Path(str(record_path) + ".files.json")


def _load_cache(record_path) -> dict:
    try:
        cache = json.loads(_cache_path(record_path).read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def read_record(path) -> dict | None:
    """A record, or None when there is none or it cannot be read (the stage then runs)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def make_record(inputs: dict[str, str], settings: dict[str, str], outputs=(), cache: dict | None = None) -> dict:
    return {"inputs": {name: {"path": str(p), "digest": digest(p, cache)} for name, p in inputs.items()},
            "settings": {k: str(v) for k, v in settings.items()},
            "outputs": [str(p) for p in outputs]}


def changes(record_path, inputs: dict[str, str], settings: dict[str, str], outputs=()) -> list[str]:
    """Why the stage must run: [] when its record matches `inputs`, `settings` and every output exists;
    else one phrase per difference ('train labels data/aligned1/manifests/train.json changed',
    'train.epochs 4 -> 6', 'exp/x/model.pt is missing')."""
    old = read_record(record_path)
    if old is None:
        return [f"no record of an earlier run ({record_path})"]
    why = [f"{p} is missing" for p in outputs if not Path(p).exists()]
    before, cache = old.get("inputs", {}), _load_cache(record_path)
    for name, p in inputs.items():
        now = digest(p, cache)
        if now is None:
            why.append(f"{name} {p} is missing")
        elif name not in before:
            why.append(f"{name} {p} is new")
        elif before[name].get("digest") != now:
            why.append(f"{name} {p} changed")
    why += [f"{name} no longer read" for name in before if name not in inputs]
    settings = {k: str(v) for k, v in settings.items()}
    was = old.get("settings", {})
    for key in sorted(set(was) | set(settings)):
        if was.get(key) != settings.get(key):
            why.append(f"{key} {_show(was.get(key))} -> {_show(settings.get(key))}")
    return why


def _show(value: str | None) -> str:
    return "(unset)" if value is None else (value if value else "''")


def write_record(record_path, inputs: dict[str, str], settings: dict[str, str], outputs=()) -> dict:
    """Record, atomically, what a stage that just succeeded read and ran with."""
    cache = _load_cache(record_path)
    record = make_record(inputs, settings, outputs, cache)
    if cache:
        write_json(_cache_path(record_path), cache, indent=None)
    write_json(record_path, record)
    return record
