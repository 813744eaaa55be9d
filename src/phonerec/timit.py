"""Scan an LDC TIMIT tree and build the standard train / dev / core-test manifests.

Handles the layouts users really have: upper- or lower-case paths, NIST SPHERE or
RIFF audio named `.WAV`, `.wav` or `.WAV.wav`, and a root given a level or two above
the TRAIN/TEST pair. Every problem found is collected with its path, so one run
reports all bad files instead of the first.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .audio import SAMPLE_RATE, AudioError, audio_info
from .phones import PHONE_SETS

log = logging.getLogger(__name__)

_DIALECT = re.compile(r"^dr[1-8]$", re.IGNORECASE)
_SPEAKER = re.compile(r"^[fm][a-z]{3}[0-9]$", re.IGNORECASE)


class CorpusError(ValueError):
    """The corpus cannot be prepared; the message names the files and the reasons."""


@dataclass
class Utterance:
    """One TIMIT utterance: where its files are and what it says."""

    split: str  # "train" or "test" (the TIMIT folder it came from)
    dialect: str  # "dr1".."dr8"
    speaker: str  # lower case, e.g. "fcjf0"
    name: str  # lower case, e.g. "si1027"
    wav: Path
    phn: Path | None
    wrd: Path | None = None

    @property
    def utt_id(self) -> str:
        return f"{self.speaker}_{self.name}"

    @property
    def is_sa(self) -> bool:
        return self.name.startswith("sa")


@dataclass
class ScanResult:
    root: Path
    utterances: list[Utterance] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def find_timit_root(path) -> Path:
    """Return the folder holding TRAIN and TEST (any case) at `path` or up to two levels below."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise CorpusError(f"{path}: TIMIT root does not exist or is not a folder")
    level = [path]
    for depth in range(3):
        found = [d for d in level if _has_train_test(d)]
        if found:
            if len(found) > 1:
                raise CorpusError(f"{path}: several TIMIT trees found below it: {', '.join(map(str, found))}")
            if depth:
                log.info("TIMIT TRAIN/TEST found at %s (below the given %s)", found[0], path)
            return found[0]
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir()]
    raise CorpusError(f"{path}: no TRAIN and TEST folders found there or two levels below")


def _has_train_test(d: Path) -> bool:
    names = {c.name.lower() for c in d.iterdir() if c.is_dir()}
    return {"train", "test"} <= names


def _subdir(parent: Path, name: str) -> Path:
    return next(c for c in parent.iterdir() if c.is_dir() and c.name.lower() == name)


def scan(root) -> ScanResult:
    """Find every utterance below a TIMIT root; pair audio with labels, noting problems."""
    root = find_timit_root(root)
    result = ScanResult(root)
    for split in ("train", "test"):
        split_dir = _subdir(root, split)
        for dr in sorted(d for d in split_dir.iterdir() if d.is_dir() and _DIALECT.match(d.name)):
            for spk in sorted(d for d in dr.iterdir() if d.is_dir()):
                if not _SPEAKER.match(spk.name):
                    result.problems.append(f"{spk}: not a TIMIT speaker folder name, ignored")
                    continue
                _scan_speaker(spk, split, dr.name.lower(), result)
    return result


def _scan_speaker(spk_dir: Path, split: str, dialect: str, result: ScanResult) -> None:
    by_utt: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for f in spk_dir.iterdir():
        if not f.is_file():
            continue
        parts = f.name.lower().split(".")
        if len(parts) < 2:
            continue
        utt, kind = parts[0], parts[1]  # "sa1.wav.wav" -> ("sa1", "wav")
        by_utt[utt][kind].append(f)
    for utt in sorted(by_utt):
        kinds = by_utt[utt]
        wavs = sorted(kinds.get("wav", []), key=lambda p: (len(p.name), p.name))
        phns = kinds.get("phn", [])
        if not wavs and not phns:
            continue  # e.g. only .TXT/.WRD: not an utterance we can use
        if not wavs:
            result.problems.append(f"{phns[0]}: label file has no matching .WAV audio")
            continue
        if not phns:
            result.problems.append(f"{wavs[0]}: audio has no matching .PHN label file")
            continue
        wrds = kinds.get("wrd", [])
        result.utterances.append(
            Utterance(split, dialect, spk_dir.name.lower(), utt, wavs[0], phns[0], wrds[0] if wrds else None)
        )


def read_phn(path, num_samples: int | None = None, phone_set: int = 61) -> list[tuple[int, int, str]]:
    """Read a TIMIT .PHN file as (start, end, phone) in samples, checking it is usable.

    `phone_set` is the inventory the labels must come from: 61 for the corpus, 48 or 39
    for the `.phn` files `transcribe.py` writes with a model trained on a folded set.
    Raises CorpusError naming the file and line for: an empty file, a malformed line,
    an unknown phone, start >= end, segments out of order or overlapping, or an end
    past the last audio sample.
    """
    path = Path(path)
    known = set(PHONE_SETS[phone_set])
    segments: list[tuple[int, int, str]] = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split()
        try:
            start, end, phone = int(cols[0]), int(cols[1]), cols[2]
        except (IndexError, ValueError):
            raise CorpusError(f"{path}:{lineno}: expected 'start end phone', got {line!r}") from None
        if phone not in known:
            raise CorpusError(f"{path}:{lineno}: unknown phone {phone!r} (not in the {phone_set}-phone set)")
        if end <= start:
            raise CorpusError(f"{path}:{lineno}: end {end} is not after start {start}")
        if segments and start < segments[-1][0]:
            raise CorpusError(f"{path}:{lineno}: segments are not sorted by start time")
        if segments and start < segments[-1][1]:
            raise CorpusError(f"{path}:{lineno}: segment overlaps the previous one ({start} < {segments[-1][1]})")
        if num_samples is not None and end > num_samples:
            raise CorpusError(f"{path}:{lineno}: end {end} is past the end of the audio ({num_samples} samples)")
        segments.append((start, end, phone))
    if not segments:
        raise CorpusError(f"{path}: empty label file")
    return segments


def read_words(path) -> list[str]:
    """Words of a .WRD file (third column), or [] when there is none."""
    if path is None:
        return []
    return [cols[2] for cols in (line.split() for line in Path(path).read_text(errors="replace").splitlines()) if len(cols) >= 3]


def manifest_row(utt: Utterance) -> dict:
    """Check one utterance's audio and labels and return its manifest entry (SpeechBrain keys)."""
    num_samples, sr = audio_info(utt.wav)
    if sr != SAMPLE_RATE:
        raise CorpusError(f"{utt.wav}: sample rate {sr} Hz, TIMIT audio must be {SAMPLE_RATE} Hz")
    if num_samples == 0:
        raise CorpusError(f"{utt.wav}: contains no samples")
    segments = read_phn(utt.phn, num_samples)
    return {
        "wav": str(Path(utt.wav).resolve()),
        "duration": num_samples / sr,
        "spk_id": utt.speaker,
        "phn": " ".join(s[2] for s in segments),
        "wrd": " ".join(read_words(utt.wrd)),
        "ground_truth_phn_ends": " ".join(str(s[1]) for s in segments),
    }


def read_speaker_list(path) -> list[str]:
    """Speaker ids (lower case) from a one-per-line list; '#' starts a comment."""
    names = [line.split("#")[0].strip().lower() for line in Path(path).read_text().splitlines()]
    return [n for n in names if n]


def assign_splits(
    utterances: list[Utterance], dev_speakers: list[str], test_speakers: list[str], *, test_set: str = "core"
) -> dict[str, list[Utterance]]:
    """Split utterances into train / dev / test by speaker.

    train: every TRAIN speaker. dev: TEST speakers in `dev_speakers`. test: TEST speakers
    in `test_speakers` (`test_set="core"`) or every TEST speaker (`"full"`, 1344 utterances
    on real TIMIT, overlapping dev as in the literature).
    Fallback when the corpus has none of the listed dev and test speakers (a custom or
    synthetic corpus): within each dialect region, TEST speakers sorted by id alternate
    dev, test, dev, test... so the two sets are speaker-disjoint and cover every region.
    """
    if test_set not in ("core", "full"):
        raise ValueError(f"test_set must be 'core' or 'full', got {test_set!r}")
    if set(dev_speakers) & set(test_speakers):
        raise CorpusError(f"speaker(s) in both the dev and the test list: {sorted(set(dev_speakers) & set(test_speakers))}")
    train = [u for u in utterances if u.split == "train"]
    test_utts = [u for u in utterances if u.split == "test"]
    present = {u.speaker for u in test_utts}
    dev_set, test_spk = set(dev_speakers), set(test_speakers)
    if not (present & (dev_set | test_spk)):
        dev_set, test_spk = _fallback_speakers(test_utts)
        log.warning(
            "none of the %d listed dev / %d test speakers is in this corpus: using the fallback rule "
            "(TEST speakers alternate dev/test within each dialect region): %d dev, %d test speakers",
            len(dev_speakers), len(test_speakers), len(dev_set), len(test_spk),
        )
    else:
        for name, listed in (("dev", dev_speakers), ("test", test_speakers)):
            missing = sorted(set(listed) - present)
            if missing:
                log.warning(
                    "%d of %d %s speakers are missing from the corpus (fine for a partial or synthetic "
                    "corpus; on real TIMIT this means your copy is incomplete): %s",
                    len(missing), len(listed), name, " ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""),
                )
    dev = [u for u in test_utts if u.speaker in dev_set]
    test = test_utts if test_set == "full" else [u for u in test_utts if u.speaker in test_spk]
    return {"train": train, "dev": dev, "test": test}


def _fallback_speakers(test_utts: list[Utterance]) -> tuple[set[str], set[str]]:
    by_dr: dict[str, set[str]] = defaultdict(set)
    for u in test_utts:
        by_dr[u.dialect].add(u.speaker)
    dev, test = set(), set()
    for dr in sorted(by_dr):
        for i, spk in enumerate(sorted(by_dr[dr])):
            (dev if i % 2 == 0 else test).add(spk)
    return dev, test


def prepare(
    timit_root,
    dev_speakers: list[str],
    test_speakers: list[str],
    *,
    test_set: str = "core",
    keep_sa: bool = False,
    skip_bad: bool = False,
) -> tuple[dict[str, dict], list[str]]:
    """Scan a TIMIT tree and return ({split: manifest rows}, skipped problems).

    Without `skip_bad`, any bad file stops preparation with a CorpusError listing every
    problem found. With it, bad utterances are left out and returned as messages.
    """
    result = scan(timit_root)
    problems = list(result.problems)
    utts = [u for u in result.utterances if keep_sa or not u.is_sa]
    splits = assign_splits(utts, dev_speakers, test_speakers, test_set=test_set)
    rows: dict[str, dict] = {}
    for utt in {id(u): u for part in splits.values() for u in part}.values():
        try:
            rows[utt.utt_id] = manifest_row(utt)
        except (CorpusError, AudioError) as e:
            problems.append(str(e))
        except OSError as e:
            problems.append(f"{utt.wav}: cannot read ({e})")
    if problems and not skip_bad:
        listing = "\n  ".join(problems)
        raise CorpusError(
            f"{result.root}: {len(problems)} problem(s) in the corpus (use --skip-bad to leave them out):\n  {listing}"
        )
    manifests = {
        split: {u.utt_id: rows[u.utt_id] for u in sorted(part, key=lambda u: u.utt_id) if u.utt_id in rows}
        for split, part in splits.items()
    }
    for split, m in manifests.items():
        log.info("%s: %d utterances, %d speakers", split, len(m), len({r["spk_id"] for r in m.values()}))
    return manifests, problems
