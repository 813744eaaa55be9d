"""Scan an LDC TIMIT tree and build the standard train / dev / core-test manifests.

Handles the layouts users really have: upper- or lower-case paths, NIST SPHERE or
RIFF audio named `.WAV`, `.wav` or `.WAV.wav`, a root given a level or two above
the TRAIN/TEST pair, and what else a copy carries (DOC/, README.DOC, a Mac's
__MACOSX/, ._* and .DS_Store), which is ignored with one log line. Every problem
found is collected with its path, so one run reports all bad files instead of the first.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from phonerec.corpora.problems import CorpusError, Report, refuse_or_skip
from phonerec.features.audio import SAMPLE_RATE, AudioError, audio_info
from phonerec.phones import PHONE_SETS

log = logging.getLogger(__name__)

_DIALECT = re.compile(r"^dr[1-8]$", re.IGNORECASE)
_SPEAKER = re.compile(r"^[fm][a-z]{3}[0-9]$", re.IGNORECASE)
# An utterance file: "sa1.wav", "si1027.phn", "sx12.wrd", "sx12.txt", or "sa1.wav.wav" (a
# common RIFF conversion). Anything else in a speaker folder (._SA1.WAV, .DS_Store, SA1.WAV.bak)
# is not TIMIT data.
_UTT_FILE = re.compile(r"^([a-z0-9]+)\.(wav|phn|wrd|txt)((?<=\.wav)\.wav)?$", re.IGNORECASE)
# Folders the OS or a copy tool makes (never a misnamed speaker): hidden ones and a Mac zip's __MACOSX.
_OS_FOLDER = re.compile(r"^(\.|__macosx$)", re.IGNORECASE)
UTTS_PER_SPEAKER = {False: 8, True: 10}  # every TIMIT speaker reads 3 SI + 5 SX (+ SA1, SA2)
# Utterances of a complete copy with the standard speaker lists (without SA; 10/8 of it with SA)
STANDARD_COUNTS = {"dev": 400, "core": 192, "full": 1344}


@dataclass
class Utterance:
    """One TIMIT utterance: where its files are and what it says."""

    split: str  # "train" or "test" (the TIMIT folder it came from)
    dialect: str  # "dr1".."dr8"
    speaker: str  # lower case, e.g. "fcjf0"
    name: str  # lower case, e.g. "si1027"
    wav: Path | None
    phn: Path | None
    wrd: Path | None = None
    problem: str = ""  # why it cannot be used, seen by the scan (a missing audio or label file)

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
    ignored: list[Path] = field(default_factory=list)  # entries that are not TIMIT data


def find_timit_root(path) -> Path:
    """Return the folder holding TRAIN and TEST (any case) at `path` or up to two levels below.

    Hidden folders and __MACOSX are not searched: a Mac zip mirrors the tree there.
    """
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
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not _OS_FOLDER.match(c.name)]
    raise CorpusError(f"{path}: no TRAIN and TEST folders found there or two levels below")


def _has_train_test(d: Path) -> bool:
    names = {c.name.lower() for c in d.iterdir() if c.is_dir()}
    return {"train", "test"} <= names


def scan(root) -> ScanResult:
    """Find every utterance below a TIMIT root and pair audio with labels.

    Only TRAIN|TEST/DRn/SPEAKER/utterance files are corpus data; every other entry
    (DOC/, README.DOC, __MACOSX/, ._*, .DS_Store, a stray folder) is left out and
    logged in one line, so a copy's extras never stop preparation.
    """
    root = find_timit_root(root)
    result = ScanResult(root)
    split_dirs = _keep(root, lambda c: c.is_dir() and c.name.lower() in ("train", "test"), result)
    for split_dir in split_dirs:
        for dr in _keep(split_dir, lambda c: c.is_dir() and _DIALECT.match(c.name), result):
            for spk in _keep(dr, lambda c: c.is_dir() and _SPEAKER.match(c.name), result):
                _scan_speaker(spk, split_dir.name.lower(), dr.name.lower(), result)
    _log_ignored(result)
    return result


def _keep(folder: Path, wanted, result: ScanResult) -> list[Path]:
    """The entries of `folder` that `wanted` accepts; the others go to `result.ignored`."""
    kept = []
    for entry in sorted(folder.iterdir()):
        (kept if wanted(entry) else result.ignored).append(entry)
    return kept


def _log_ignored(result: ScanResult) -> None:
    """One line for everything ignored; a warning when a folder inside TRAIN/TEST may be a misnamed speaker."""
    if not result.ignored:
        return
    names = list(dict.fromkeys(p.name for p in result.ignored))
    unknown = [p for p in result.ignored if p.parent != result.root and p.is_dir() and not _OS_FOLDER.match(p.name)]
    log.log(
        logging.WARNING if unknown else logging.INFO,
        "ignored %d non-corpus entries: %s (not TIMIT data)%s",
        len(result.ignored), ", ".join(names[:8]) + (", ..." if len(names) > 8 else ""),
        f"; not read as they are neither a region nor a speaker folder (named like DR1, FCJF0): "
        f"{', '.join(str(p.relative_to(result.root)) for p in unknown[:5])}" if unknown else "",
    )


def _scan_speaker(spk_dir: Path, split: str, dialect: str, result: ScanResult) -> None:
    by_utt: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for f in sorted(spk_dir.iterdir()):
        m = _UTT_FILE.match(f.name) if f.is_file() else None
        if not m:
            result.ignored.append(f)
            continue
        by_utt[m[1].lower()][m[2].lower()].append(f)
    for utt, kinds in sorted(by_utt.items()):
        wavs = sorted(kinds["wav"], key=lambda p: (len(p.name), p.name))  # SA1.WAV before SA1.WAV.wav
        wav, phn = (wavs or [None])[0], (kinds["phn"] or [None])[0]
        wrd = (kinds["wrd"] or [None])[0]
        problem = ""
        if wav is None and phn is None:
            other = (kinds["wrd"] + kinds["txt"])[0]
            problem = f"{other}: utterance has no .WAV audio and no .PHN label file"
        elif phn is None:
            problem = f"{wav}: audio has no matching .PHN label file"
        elif wav is None:
            problem = f"{phn}: label file has no matching .WAV audio"
        result.utterances.append(Utterance(split, dialect, spk_dir.name.lower(), utt, wav, phn, wrd, problem))


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
    """Check one utterance's audio and labels and return its manifest entry (SpeechBrain keys).

    Reads only the audio header (the length and rate), so preparing all of TIMIT takes seconds.
    """
    if utt.problem:
        raise CorpusError(utt.problem)
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


def standard_speaker_list(name: str) -> Path:
    """The packaged standard list: "dev" (Halberstadt's 50 speakers, as Kaldi and SpeechBrain) or
    "core_test" (the 24-speaker core test set)."""
    if name not in ("dev", "core_test"):
        raise ValueError(f"no standard speaker list {name!r}; use 'dev' or 'core_test'")
    return Path(str(resources.files("phonerec").joinpath(f"resources/{name}_spk.list")))


def read_speaker_list(path) -> list[str]:
    """Speaker ids (lower case) from a one-per-line list; '#' starts a comment."""
    names = [line.split("#")[0].strip().lower() for line in Path(path).read_text().splitlines()]
    return [n for n in names if n]


@dataclass
class Split:
    """The utterances of one split and the speakers it should have (listed ones may be missing)."""

    speakers: set[str]
    utterances: list[Utterance]


def assign_splits(
    utterances: list[Utterance], dev_speakers: list[str], test_speakers: list[str], *, test_set: str = "core"
) -> dict[str, Split]:
    """Split utterances into train / dev / test by speaker.

    train: every TRAIN speaker. dev: TEST speakers in `dev_speakers`. test: TEST speakers
    in `test_speakers` (`test_set="core"`) or every TEST speaker (`"full"`: the literature's
    1344-utterance full test set, which contains the dev speakers; a warning says so).
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
    if test_set == "full":
        test_spk = present | dev_set | test_spk
        log.warning(
            "--test-set full: the test set is all %d TEST speakers, including the %d dev speakers, so dev and "
            "test share speakers: this test PER is not comparable to published core-test figures",
            len(test_spk), len(dev_set),
        )
    return {
        "train": Split({u.speaker for u in train}, train),
        "dev": Split(dev_set, [u for u in test_utts if u.speaker in dev_set]),
        "test": Split(test_spk, [u for u in test_utts if u.speaker in test_spk]),
    }


def _fallback_speakers(test_utts: list[Utterance]) -> tuple[set[str], set[str]]:
    by_dr: dict[str, set[str]] = defaultdict(set)
    for u in test_utts:
        by_dr[u.dialect].add(u.speaker)
    dev, test = set(), set()
    for dr in sorted(by_dr):
        for i, spk in enumerate(sorted(by_dr[dr])):
            (dev if i % 2 == 0 else test).add(spk)
    return dev, test


def expected_counts(dev_speakers, test_speakers, test_set: str, keep_sa: bool) -> dict[str, int | None]:
    """Utterances a complete TIMIT gives dev and test: known only for the standard speaker lists
    (400 dev, 192 core / 1344 full test; SA sentences add 2 per speaker); None otherwise, and
    always for train (no list defines it)."""
    standard = (set(dev_speakers) == set(read_speaker_list(standard_speaker_list("dev")))
                and set(test_speakers) == set(read_speaker_list(standard_speaker_list("core_test"))))
    if not standard:
        return {"train": None, "dev": None, "test": None}
    scale = UTTS_PER_SPEAKER[keep_sa] / UTTS_PER_SPEAKER[False]
    return {"train": None, "dev": round(STANDARD_COUNTS["dev"] * scale), "test": round(STANDARD_COUNTS[test_set] * scale)}


def prepare(
    timit_root,
    dev_speakers: list[str],
    test_speakers: list[str],
    *,
    test_set: str = "core",
    keep_sa: bool = False,
    skip_bad: bool = False,
    allow_incomplete_test: bool = False,
) -> tuple[dict[str, dict], Report]:
    """Scan a TIMIT tree and return ({split: manifest rows}, Report).

    Any bad file stops preparation with a CorpusError listing every problem, except that
    `skip_bad` leaves out bad train utterances and `allow_incomplete_test` bad dev/test
    ones: a dev/test set missing utterances gives a PER that is not comparable with
    published ones, so that needs its own explicit option and is logged loudly.
    "expected" in the counts is what a complete copy gives with the standard speaker lists
    (expected_counts), None with other lists.
    """
    result = scan(timit_root)
    utts = [u for u in result.utterances if keep_sa or not u.is_sa]
    splits = assign_splits(utts, dev_speakers, test_speakers, test_set=test_set)
    rows: dict[str, dict] = {}
    bad: dict[str, str] = {}  # utt_id -> problem
    for utt in {u.utt_id: u for split in splits.values() for u in split.utterances}.values():
        try:
            rows[utt.utt_id] = manifest_row(utt)
        except (CorpusError, AudioError) as e:
            bad[utt.utt_id] = str(e)
        except OSError as e:
            bad[utt.utt_id] = f"{utt.wav}: cannot read ({e})"
    skipped = {name: sorted(u.utt_id for u in split.utterances if u.utt_id in bad) for name, split in splits.items()}
    refuse_or_skip(result.root, bad, skipped, skip_bad=skip_bad, allow_incomplete_test=allow_incomplete_test)
    manifests = {
        name: {u.utt_id: rows[u.utt_id] for u in sorted(split.utterances, key=lambda u: u.utt_id) if u.utt_id in rows}
        for name, split in splits.items()
    }
    expected = expected_counts(dev_speakers, test_speakers, test_set, keep_sa)
    if splits["dev"].speakers != set(dev_speakers):  # the fallback rule chose other speakers
        expected = dict.fromkeys(expected)
    counts = {name: {"utterances": len(manifests[name]), "expected": expected[name], "skipped": skipped[name]}
              for name in splits}
    for name, c in counts.items():
        if c["expected"] is None:
            log.info("%s: %d utterances, %d speakers (no expected count: not the standard speaker lists)",
                     name, c["utterances"], len({r["spk_id"] for r in manifests[name].values()}))
            continue
        short = c["utterances"] < c["expected"]
        not_found = max(0, c["expected"] - c["utterances"] - len(c["skipped"]))
        log.log(logging.WARNING if short else logging.INFO, "%s: %d utterances of %d expected, %d speakers%s",
                name, c["utterances"], c["expected"], len({r["spk_id"] for r in manifests[name].values()}),
                f" ({len(c['skipped'])} left out as bad, {not_found} not in the copy)" if short else "")
    return manifests, Report([bad[u] for u in sorted(bad)], counts)
