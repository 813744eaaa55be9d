"""What every corpus's prepare() does with bad files: collect them all, refuse them in one error
naming each file, or leave them out when asked (train with --skip-bad; dev/test only with
--allow-incomplete-test, since a PER on an incomplete dev/test set is not comparable)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from phonerec.features.audio import SAMPLE_RATE, AudioError, audio_info

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """The corpus cannot be prepared; the message names the files and the reasons."""


@dataclass
class Report:
    """What prepare() left out, and how complete each split is (for skipped.txt and counts.json)."""

    problems: list[str]  # every bad item left out, with its path and the reason
    # {split: {"utterances": N kept, "expected": a complete copy's count (None when no standard count exists),
    #          "skipped": [utt_id left out as bad]}}
    counts: dict[str, dict]


def refuse_or_skip(root, bad: dict[str, str], skipped: dict[str, list[str]], *, skip_bad: bool,
                   allow_incomplete_test: bool) -> None:
    """Raise CorpusError listing every bad utterance (`bad`: utt_id -> problem; `skipped`: split ->
    its bad utt_ids) that the options do not allow to leave out; log loudly when dev/test lose any."""
    eval_bad = set(skipped.get("dev", ())) | set(skipped.get("test", ()))
    refused = sorted(u for u in bad if not (allow_incomplete_test if u in eval_bad else skip_bad))
    if refused:
        listing = "\n  ".join(bad[u] for u in refused)
        raise CorpusError(
            f"{root}: {len(refused)} problem(s) in the corpus:\n  {listing}\n"
            "--skip-bad leaves out bad train utterances; bad dev/test utterances are only left out with "
            "--allow-incomplete-test, since a PER on an incomplete dev/test set is not comparable")
    if eval_bad:
        log.warning("INCOMPLETE DEV/TEST SETS (--allow-incomplete-test): %d dev and %d test utterance(s) left out "
                    "as bad: %s; PERs on these sets are not comparable with published ones",
                    len(skipped.get("dev", ())), len(skipped.get("test", ())), " ".join(sorted(eval_bad)))


def audio_frames(path: Path, corpus: str) -> tuple[int, str]:
    """(number of samples, "") for a usable 16 kHz file of `corpus`, else (0, the problem, naming the file)."""
    if not path.is_file():
        return 0, f"{path}: audio file does not exist"
    try:
        frames, sr = audio_info(path)
    except AudioError as e:
        return 0, str(e)
    except OSError as e:
        return 0, f"{path}: cannot read ({e})"
    if sr != SAMPLE_RATE:
        return 0, f"{path}: sample rate {sr} Hz, {corpus} audio must be {SAMPLE_RATE} Hz"
    return frames, "" if frames else f"{path}: contains no samples"
