"""speechocean762 (OpenSLR 101, CC BY 4.0) -> train / dev / test manifests in phonerec's TIMIT schema.

The corpus: 5000 read English sentences by 250 Mandarin-speaking children and adults, 16 kHz mono
RIFF, in Kaldi-style lists (train/ and test/: text, wav.scp, utt2spk, spk2age, spk2gender; 125
speakers each) with per-word phones in resource/text-phone. Those phones are the canonical
(reference) pronunciation of each word, not a transcription of what the non-native speaker said,
so a PER on this corpus is measured against what was to be read. There are no phone times, so the
rows have no "ground_truth_phn_ends" (boundary scoring does not apply).

Splits: "test" is the official test/ list (2500 utterances); "train" is train/ without the dev
speakers; "dev" is whole train speakers chosen by `pick_dev_speakers`: train speakers are put in
four strata, child (spk2age < 16) or adult by female or male (spk2gender), and from each stratum of
N >= 2 speakers, sorted by id, the n = max(1, N / 10 rounded half up) speakers at positions
floor((i + 1/2) * N / n), i = 0..n-1, go to dev (about 10 %, spread over the id range; no
randomness, so every run and every machine gets the same dev set).

Phones: `K_B AO0_I L_E` (CMU ARPAbet, stress digit, word-position mark) -> `kcl k ao l`: the 39 CMU
phones are all TIMIT symbols, and each stop and affricate gets the closure TIMIT transcribes before
its release (`b` -> `bcl b`, `t` -> `tcl t`, `ch` -> `tcl ch`, `jh` -> `dcl jh`; `corpora.synthetic.CLOSURE_OF`), so
a model trained here has learned the closure a TIMIT phone sequence asks it to align. (The stress
digits are not used: the corpus marks most vowels 0, stressed or not: `W IY0` for "we".) Each
utterance's words are joined in word order and framed by h#, as TIMIT's .PHN files are; the row's
"word_starts" keeps where each word begins, for the optional pauses of relabelling.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path

from phonerec.corpora.problems import CorpusError, Report, audio_frames, refuse_or_skip
from phonerec.corpora.synthetic import CLOSURE_OF
from phonerec.features.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

# The 39 CMU ARPAbet phones; lower-cased, each is a TIMIT symbol (AA -> aa, HH -> hh), so no table is needed.
CMU_PHONES = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)
CHILD_AGE = 16  # spk2age below this is a child (the corpus has children 6-15 and adults 19-43)
DEV_FRACTION = 0.1
SPLIT_FILES = ("text", "wav.scp", "utt2spk", "spk2age", "spk2gender")
LAYOUT = ("WAVE/SPEAKERnnnn/*.WAV, train/ and test/ each with " + ", ".join(SPLIT_FILES)
          + ", and resource/text-phone")
_PHONE = re.compile(r"^([A-Z]+)[0-2]?(?:_[BIES])?$")
_OS_FOLDER = re.compile(r"^(\.|__macosx$)", re.IGNORECASE)


def find_root(path) -> Path:
    """The folder holding WAVE/, train/, test/ and resource/: `path` itself or up to two levels below.

    Raises CorpusError naming what is missing and the layout expected, so a wrong or partial
    copy is explained in one message rather than by thousands of missing files.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise CorpusError(f"{path}: speechocean762 root does not exist or is not a folder")
    level, root = [path], None
    for depth in range(3):
        found = [d for d in level if _looks_like_root(d)]
        if len(found) > 1:
            raise CorpusError(f"{path}: several speechocean762 copies below it: {', '.join(map(str, found))}")
        if found:
            root = found[0]
            if depth:
                log.info("speechocean762 found at %s (below the given %s)", root, path)
            break
        level = [c for d in level for c in _subfolders(d)]
    if root is None:
        raise CorpusError(f"{path}: no speechocean762 corpus there or two levels below (expected {LAYOUT})")
    missing = [f"{s}/" if not (root / s).is_dir() else f"{s}/{f}" for s in ("train", "test")
               for f in SPLIT_FILES if not (root / s / f).is_file()]
    missing = list(dict.fromkeys(missing))  # a missing folder once, not once per file
    missing += [p for p in ("WAVE/", "resource/text-phone") if not (root / p).exists()]
    if missing:
        raise CorpusError(f"{root}: incomplete speechocean762 copy, missing {', '.join(missing)} (expected {LAYOUT})")
    return root


def _looks_like_root(d: Path) -> bool:
    return (d / "WAVE").is_dir() or (d / "resource" / "text-phone").is_file() or any(
        (d / s / "wav.scp").is_file() for s in ("train", "test"))


def _subfolders(d: Path) -> list[Path]:
    try:
        return [c for c in sorted(d.iterdir()) if c.is_dir() and not _OS_FOLDER.match(c.name)]
    except OSError:
        return []


def _table(path: Path, problems: dict[str, list[str]]) -> dict[str, str]:
    """A Kaldi `key value...` list; a duplicated key or a line without a value goes to problems[key]."""
    table: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        cols = line.split(None, 1)
        if not cols:
            continue
        key = cols[0]
        if key in table:
            problems[key].append(f"{path}:{lineno}: {key} listed twice")
        elif len(cols) < 2 or not cols[1].strip():
            problems[key].append(f"{path}:{lineno}: {key} has no value")
        table[key] = cols[1].strip() if len(cols) > 1 else ""
    return table


def read_text_phone(path, problems: dict[str, list[str]]) -> dict[str, dict[int, tuple[int, str]]]:
    """resource/text-phone as {utt: {word index: (line number, phones)}}; bad lines go to problems[utt]."""
    words: dict[str, dict[int, tuple[int, str]]] = defaultdict(dict)
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        cols = line.split(None, 1)
        if not cols:
            continue
        utt, _, index = cols[0].rpartition(".")
        if not utt or not index.isdigit():
            problems[utt or cols[0]].append(f"{path}:{lineno}: expected '<uttid>.<wordindex> phones', got {line!r}")
            continue
        if int(index) in words[utt]:
            problems[utt].append(f"{path}:{lineno}: {cols[0]} listed twice")
        words[utt][int(index)] = (lineno, cols[1] if len(cols) > 1 else "")
    return words


def to_timit_phone(symbol: str) -> str | None:
    """`AO0_I` -> `ao`; None for a symbol that is not a CMU phone (with optional stress and mark)."""
    m = _PHONE.match(symbol.upper())
    return m[1].lower() if m and m[1] in CMU_PHONES else None


def pick_dev_speakers(ages: dict[str, int | None], genders: dict[str, str]) -> list[str]:
    """The module docstring's dev rule over the given (train) speakers: ~10 % per age group x sex.

    A speaker without an age or a sex is put in an "unknown" stratum of its own (and logged).
    """
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for spk in sorted(ages.keys() | genders.keys()):
        age = ages.get(spk)
        group = "unknown" if age is None else "child" if age < CHILD_AGE else "adult"
        strata[group, genders.get(spk) or "unknown"].append(spk)
    dev = []
    for key in sorted(strata):
        spks = strata[key]
        n = max(1, int(len(spks) * DEV_FRACTION + 0.5)) if len(spks) >= 2 else 0
        dev += [spks[int((i + 0.5) * len(spks) / n)] for i in range(n)]
    return sorted(dev)


def _speaker_info(folder: Path) -> tuple[dict[str, int | None], dict[str, str]]:
    ignored: dict[str, list[str]] = defaultdict(list)  # a bad age/gender line only changes a stratum
    ages = {s: int(a) if a.isdigit() else None for s, a in _table(folder / "spk2age", ignored).items()}
    genders = {s: g.lower() for s, g in _table(folder / "spk2gender", ignored).items()}
    no_age = [f"{folder}/spk2age: speaker {s} has no age (a number)" for s, a in ages.items() if a is None]
    for problem in [p for ps in ignored.values() for p in ps] + no_age:
        log.warning("%s", problem)
    return ages, genders


def _scan_split(root: Path, name: str, text_phone: dict, tp_problems: dict) -> dict[str, tuple]:
    """{utt_id: (speaker, corpus utt id, row or None, problem)} for every utterance of train/ or test/."""
    folder, problems, tp_file = root / name, defaultdict(list), root / "resource" / "text-phone"
    text, scp, utt2spk = (_table(folder / f, problems) for f in ("text", "wav.scp", "utt2spk"))
    out = {}
    for utt in sorted(text.keys() | scp.keys()):
        issues = list(problems.get(utt, [])) + list(tp_problems.get(utt, []))
        if utt not in scp:
            issues.append(f"{folder}/wav.scp: utterance {utt} is in {folder}/text but has no audio line")
        if utt not in text:
            issues.append(f"{folder}/text: utterance {utt} is in {folder}/wav.scp but has no transcript line")
        spk = utt2spk.get(utt, "")
        if not spk or "_" in spk:  # "_" would break speaker_of(), which splits the utt id on it
            issues.append(f"{folder}/utt2spk: utterance {utt} has "
                          + (f"speaker {spk!r} with '_'" if spk else "no speaker"))
        phones, words, word_starts = ["h#"], text.get(utt, "").split(), []
        for i, word in enumerate(words):
            word_starts.append(len(phones))
            lineno, entry = text_phone.get(utt, {}).get(i, (None, ""))
            where = f"{tp_file}:{lineno}" if lineno else str(tp_file)
            if not entry.split():
                issues.append(f"{where}: no phones for word {i} {word!r} of utterance {utt} ({folder}/text)")
            for symbol in entry.split():
                phone = to_timit_phone(symbol)
                if phone is None:
                    issues.append(f"{where}: unknown phone {symbol!r} in word {i} {word!r} of utterance {utt}")
                else:
                    phones += [CLOSURE_OF[phone], phone] if phone in CLOSURE_OF else [phone]
        extra = sorted(set(text_phone.get(utt, {})) - set(range(len(words))))
        if utt in text and extra:
            issues.append(f"{tp_file}: utterance {utt} has phones for word(s) {extra}, {folder}/text has {len(words)}")
        row = None
        if not issues:
            wav = Path(scp[utt]) if Path(scp[utt]).is_absolute() else root / scp[utt]
            frames, problem = audio_frames(wav, "speechocean762")
            issues += [problem] if problem else []
            row = {"wav": str(wav.resolve()), "duration": frames / SAMPLE_RATE, "spk_id": spk,
                   "phn": " ".join(phones + ["h#"]), "wrd": " ".join(words).lower(),
                   "word_starts": " ".join(map(str, word_starts))}
        out[f"{spk}_{utt}" if spk else utt] = (spk, utt, None if issues else row, "; ".join(issues))
    return out


def prepare(root, *, dev_speakers: list[str] | None = None, skip_bad: bool = False,
            allow_incomplete_test: bool = False) -> tuple[dict[str, dict], Report]:
    """Read a speechocean762 copy and return ({"train", "dev", "test": {utt_id: row}}, Report).

    utt ids are `<speaker>_<corpus utt id>` (e.g. 0001_000010011) so speaker_of() finds the
    speaker. `dev_speakers` (train speaker ids) replaces the stratified rule of the module
    docstring. As timit.prepare: every problem is collected and raised in one CorpusError;
    `skip_bad` leaves out bad train utterances, `allow_incomplete_test` bad dev/test ones.
    "expected" in the counts is None: the corpus has no standard count to compare with.
    """
    root = find_root(root)
    tp_problems: dict[str, list[str]] = defaultdict(list)
    text_phone = read_text_phone(root / "resource" / "text-phone", tp_problems)
    scanned = {name: _scan_split(root, name, text_phone, tp_problems) for name in ("train", "test")}
    listed = {utt for split in scanned.values() for _, utt, *_ in split.values()}
    unlisted = [w for w in (root / "WAVE").glob("*/*") if w.suffix.lower() == ".wav" and w.stem not in listed]
    if unlisted:
        log.info("%d WAV files under %s are in neither wav.scp, so in no split (the corpus ships them unlisted)",
                 len(unlisted), root / "WAVE")
    ages, genders = _speaker_info(root / "train")
    train_spk = {spk for spk, *_ in scanned["train"].values() if spk}
    if train_spk - (ages.keys() & genders.keys()):
        log.warning("train speaker(s) without an age or sex in spk2age/spk2gender, a dev stratum of their own: %s",
                    " ".join(sorted(train_spk - (ages.keys() & genders.keys()))))
    if dev_speakers is None:
        dev_set = set(pick_dev_speakers({s: ages.get(s) for s in train_spk},
                                        {s: genders[s] for s in train_spk if s in genders}))
    else:
        dev_set = {str(s) for s in dev_speakers}
        if dev_set - train_spk:
            raise CorpusError(f"{root / 'train'}: dev speaker(s) {' '.join(sorted(dev_set - train_spk))} "
                              "are not train speakers of this copy")
    splits = {"train": {u: v for u, v in scanned["train"].items() if v[0] not in dev_set},
              "dev": {u: v for u, v in scanned["train"].items() if v[0] in dev_set}, "test": scanned["test"]}
    bad = {u: v[3] for split in splits.values() for u, v in split.items() if v[3]}
    skipped = {name: sorted(u for u in split if u in bad) for name, split in splits.items()}
    refuse_or_skip(root, bad, skipped, skip_bad=skip_bad, allow_incomplete_test=allow_incomplete_test)
    manifests = {name: {u: v[2] for u, v in sorted(split.items()) if v[2]} for name, split in splits.items()}
    counts = {name: {"utterances": len(rows), "expected": None, "skipped": skipped[name]}
              for name, rows in manifests.items()}
    for name, rows in manifests.items():
        hours = sum(r["duration"] for r in rows.values()) / 3600
        log.info("%s: %d utterances, %d speakers, %.2f h, %d left out as bad", name, len(rows),
                 len({r["spk_id"] for r in rows.values()}), hours, len(skipped[name]))
    log.info("dev speakers (%s): %s", "given" if dev_speakers is not None else "stratified rule",
             " ".join(f"{s}({genders.get(s, '?')},{ages.get(s, '?')})" for s in sorted(dev_set)))
    return manifests, Report([bad[u] for u in sorted(bad)], counts)
