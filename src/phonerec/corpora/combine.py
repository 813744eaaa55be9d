"""Several prepared corpora as one: the union of their manifests, to train one model on all of them.

Each source is a data folder holding manifests/ (what `phonerec prepare` wrote) or a manifest folder
itself, named NAME=DIR or by its folder (recipes/librispeech/data -> "librispeech": a folder named
data* or manifests is named by the folder above it). The result:
- train, dev, test: the union of the sources' splits, rows unchanged. utt ids are kept as they are,
  so speaker_of() and "spk_id" stay true, and they must not collide: an id in two sources is an
  error naming both (two preparations of one corpus, or two corpora with the same speaker and
  utterance names), never renamed silently. A speaker id in two sources is only a warning.
- test_<NAME>: each source's own test set as well, so a corpus's PER can be scored alone
  (`scripts/features.py --splits test_<NAME>`, then decode/score with `--splits test_<NAME>`).
- counts: per split, the sources' utterance counts summed, "expected" None, "skipped" joined.
- sources: {NAME: {"manifests": folder, "train": n, "dev": n, "test": n}}.
A plan (`--splits "train=so762:train,so762:test" "dev=so762:dev" ...`, parse_plan) chooses instead which
source splits make each combined split, in that order: e.g. a model that trains on every open test set and
is measured on speech it never heard elsewhere. Ids must then be distinct within each combined split, and no
test_<NAME> is written.
Rows with phone times ("ground_truth_phn_ends": TIMIT) and rows without (speechocean762, LibriSpeech)
may be mixed; the recipe's stage 3 then treats the train set as one without times (alignment rounds).
`drop_times` (`--drop-times NAME`) removes the times of the named sources' rows and keeps their phones: real
speech that phonerec aligned itself, trained beside speech with exact times, then teaches CTC its phones and
leaves the frame head to the exact times (data.PhoneDataset; recipes/english's exact-times round).
"""
from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from pathlib import Path

from phonerec.corpora.manifest import ManifestError, read_manifest
from phonerec.corpora.problems import CorpusError, Report

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def manifest_folder(path) -> Path:
    """`path`/manifests when it holds a prepared corpus's manifests, else `path` itself."""
    path = Path(path).expanduser()
    return path / "manifests" if (path / "manifests" / "train.json").is_file() else path


def default_name(path) -> str:
    """A source's name from its folder: the first of its folder names from the end that is not manifests or data*."""
    for part in reversed(Path(path).expanduser().resolve().parts):
        if part != "manifests" and not part.startswith("data"):
            return part
    return Path(path).name


def parse_sources(specs: list[str]) -> list[tuple[str, Path]]:
    """[(name, manifest folder)] from "NAME=DIR" or "DIR" specs; CorpusError for a bad or repeated name."""
    sources = []
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or "/" in name:  # a path that contains "=" but no name before it
            name, folder = "", spec
        sources.append((name or default_name(folder), manifest_folder(folder)))
    names = [n for n, _ in sources]
    for name in names:
        if not _NAME.match(name):
            raise CorpusError(f"corpus name {name!r} is not a plain name (letters, digits, . _ -): give NAME=DIR")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CorpusError(f"two sources named {', '.join(twice)}: give each its own name as NAME=DIR")
    return sources


def parse_plan(specs: list[str], names: list[str]) -> dict[str, list[tuple[str, str]]]:
    """{combined split: [(source name, source split)]} from "SPLIT=NAME:SPLIT,NAME:SPLIT" specs; every one of
    train, dev and test must be given; CorpusError naming what is wrong."""
    plan: dict[str, list[tuple[str, str]]] = {}
    for spec in specs:
        split, sep, parts = spec.partition("=")
        if not sep or split not in SPLITS or split in plan:
            raise CorpusError(f"--splits {spec!r}: expected train=, dev= or test= once each, then NAME:SPLIT,...")
        plan[split] = []
        for part in filter(None, parts.split(",")):
            name, _, source_split = part.partition(":")
            if name not in names or source_split not in SPLITS:
                raise CorpusError(f"--splits {spec!r}: {part!r} is not NAME:SPLIT of the sources {', '.join(names)}")
            plan[split].append((name, source_split))
    missing = [s for s in SPLITS if not plan.get(s)]
    if missing:
        raise CorpusError(f"--splits gives no source split for {', '.join(missing)}")
    return plan


def combine(sources: list[tuple[str, Path]], plan: dict[str, list[tuple[str, str]]] | None = None,
            drop_times=()) -> tuple[dict[str, dict], Report, dict[str, dict]]:
    """The union of the sources' manifests (module docstring), or the source splits `plan` names, the rows of
    the sources named in `drop_times` without their phone times: (manifests, Report, sources info)."""
    if len(sources) < 2:
        raise CorpusError("--combine needs at least two prepared data folders")
    unknown = sorted(set(drop_times) - {n for n, _ in sources})
    if unknown:
        raise CorpusError(f"--drop-times {' '.join(unknown)}: not a source (the sources: "
                          f"{', '.join(n for n, _ in sources)})")
    if plan is not None:
        manifests, report, info = _planned(dict(sources), plan, set(drop_times))
    else:
        manifests, report, info = _union(sources, set(drop_times))
    for name in drop_times:
        info[name]["phone_times"] = "dropped"
    return manifests, report, info


def _read(folder: Path, split: str, name: str, drop_times: set[str]) -> dict[str, dict]:
    """A source's split; its rows without "ground_truth_phn_ends" when the source is in `drop_times`."""
    try:
        rows = read_manifest(folder / f"{split}.json", check_files=False)
    except ManifestError as e:
        raise CorpusError(f"source {name}: {e}") from None
    if name in drop_times:
        rows = {u: {k: v for k, v in row.items() if k != "ground_truth_phn_ends"} for u, row in rows.items()}
    return rows


def _union(sources: list[tuple[str, Path]], drop_times: set[str]):
    manifests: dict[str, dict] = {s: {} for s in SPLITS}
    origin: dict[str, str] = {}
    speakers: dict[str, set[str]] = defaultdict(set)
    counts = {s: {"utterances": 0, "expected": None, "skipped": []} for s in SPLITS}
    info: dict[str, dict] = {}
    collisions: list[str] = []
    for name, folder in sources:
        info[name] = {"manifests": str(folder.resolve())}
        own_counts = _read_counts(folder)
        for split in SPLITS:
            rows = _read(folder, split, name, drop_times)
            for utt, row in rows.items():
                if utt in origin:
                    collisions.append(f"{utt} ({origin[utt]} and {name}/{split})")
                    continue
                origin[utt] = f"{name}/{split}"
                speakers[str(row["spk_id"])].add(name)
                manifests[split][utt] = row
            info[name][split] = len(rows)
            counts[split]["utterances"] += len(rows)
            counts[split]["skipped"] += own_counts.get(split, {}).get("skipped", [])
        manifests[f"test_{name}"] = _read(folder, "test", name, drop_times)
        counts[f"test_{name}"] = {"utterances": info[name]["test"], "expected": own_counts.get("test", {}).get(
            "expected"), "skipped": own_counts.get("test", {}).get("skipped", [])}
        log.info("%s (%s): train %d, dev %d, test %d utterances", name, folder, *(info[name][s] for s in SPLITS))
    if collisions:
        more = f"\n  and {len(collisions) - 20} more" if len(collisions) > 20 else ""
        listing = "\n  ".join(collisions[:20]) + more
        raise CorpusError(f"{len(collisions)} utterance id(s) in two sources (the same corpus prepared twice?); "
                          f"ids are never renamed, so combine sources with distinct ids:\n  {listing}")
    shared = sorted(s for s, names in speakers.items() if len(names) > 1)
    if shared:
        log.warning("%d speaker id(s) in more than one source (different people with the same id?): %s",
                    len(shared), " ".join(shared[:20]))
    for split in SPLITS:
        rows = manifests[split]
        log.info("combined %s: %d utterances, %d speakers, %.2f h", split, len(rows),
                 len({r["spk_id"] for r in rows.values()}), sum(r["duration"] for r in rows.values()) / 3600)
    return manifests, Report([], counts), info


def _planned(folders: dict[str, Path], plan: dict[str, list[tuple[str, str]]], drop_times: set[str]):
    manifests: dict[str, dict] = {}
    counts: dict[str, dict] = {}
    for split, parts in plan.items():
        rows: dict[str, dict] = {}
        twice: list[str] = []
        for name, source_split in parts:
            part = _read(folders[name], source_split, name, drop_times)
            twice += [u for u in part if u in rows]
            rows.update(part)
        if twice:
            raise CorpusError(f"combined {split}: {len(twice)} utterance id(s) twice (e.g. {twice[0]}): "
                              "a source split listed twice?")
        manifests[split] = rows
        counts[split] = {"utterances": len(rows), "expected": None, "skipped": []}
        log.info("combined %s = %s: %d utterances, %.2f h", split, " + ".join(f"{n}:{s}" for n, s in parts),
                 len(rows), sum(r["duration"] for r in rows.values()) / 3600)
    info = {name: {"manifests": str(folder.resolve())} for name, folder in folders.items()}
    info["plan"] = {split: [f"{n}:{s}" for n, s in parts] for split, parts in plan.items()}
    return manifests, Report([], counts), info


def _read_counts(folder: Path) -> dict:
    try:
        counts = json.loads((folder / "counts.json").read_text())
    except (OSError, ValueError):
        return {}
    return counts if isinstance(counts, dict) else {}
