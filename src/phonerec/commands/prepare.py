"""Stage prepare: a TIMIT tree (--timit) or a speechocean762 folder (--speechocean762) ->
data/manifests/{train,dev,test}.json (SpeechBrain schema; speechocean762 rows carry no phone times).

Also writes counts.json ({split: {"utterances", "expected", "skipped": [utt_id]}}) so that
scoring can say on how many of the expected utterances a PER was measured, and
skipped.txt (one line per bad item left out) when anything was left out.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phonerec.corpora import speechocean762
from phonerec.corpora.manifest import write_manifest
from phonerec.corpora.timit import CorpusError, prepare, read_speaker_list, standard_speaker_list
from phonerec.fileio import write_json, write_text
from phonerec.logs import setup_logging

log = logging.getLogger("prepare")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    corpus = p.add_mutually_exclusive_group(required=True)
    corpus.add_argument("--timit", help="TIMIT root (the folder holding TRAIN and TEST, or above it)")
    corpus.add_argument("--speechocean762", help="speechocean762 root (WAVE/, train/, test/, resource/), as "
                        "OpenSLR 101 unpacks; dev: whole train speakers by a fixed rule (corpora.speechocean762)")
    p.add_argument("--out", required=True, help="manifest folder, e.g. data/manifests")
    p.add_argument("--dev-spk", help="dev speaker list (default: TIMIT's standard 50 speakers, packaged with "
                   "phonerec; for speechocean762 its rule's 13 train speakers)")
    p.add_argument("--test-spk", default=standard_speaker_list("core_test"),
                   help="test speaker list (default: the standard 24-speaker core test set, packaged)")
    p.add_argument("--test-set", choices=("core", "full"), default="core", help="core: 192 utts; full: all 1344 TEST utts (dev speakers included)")
    p.add_argument("--keep-sa", action="store_true", help="keep the SA1/SA2 sentences (excluded by convention)")
    p.add_argument("--skip-bad", action="store_true", help="leave out bad train utterances (listed in skipped.txt) instead of stopping")
    p.add_argument("--allow-incomplete-test", action="store_true",
                   help="also leave out bad dev/test utterances (their PER is then not comparable; counts.json says how many)")
    a = p.parse_args(argv)
    setup_logging()
    try:
        if a.speechocean762:
            dev = read_speaker_list(a.dev_spk) if a.dev_spk else None
            manifests, report = speechocean762.prepare(a.speechocean762, dev_speakers=dev, skip_bad=a.skip_bad,
                                                       allow_incomplete_test=a.allow_incomplete_test)
        else:
            dev = read_speaker_list(a.dev_spk or standard_speaker_list("dev"))
            manifests, report = prepare(a.timit, dev, read_speaker_list(a.test_spk), test_set=a.test_set,
                                        keep_sa=a.keep_sa, skip_bad=a.skip_bad,
                                        allow_incomplete_test=a.allow_incomplete_test)
    except (CorpusError, OSError) as e:
        log.error("%s", e)
        return 1
    out = Path(a.out)
    for split, rows in manifests.items():
        if not rows:
            log.error("split %s is empty: check the speaker lists and the corpus", split)
            return 1
        write_manifest(out / f"{split}.json", rows)
    write_json(out / "counts.json", report.counts)
    skipped_file = out / "skipped.txt"
    if report.problems:
        write_text(skipped_file, "".join(s.replace("\n", " ") + "\n" for s in report.problems))
        log.warning("skipped %d bad item(s), listed in %s", len(report.problems), skipped_file)
    else:
        skipped_file.unlink(missing_ok=True)
    log.info("wrote %s", ", ".join(f"{s}: {len(r)}" for s, r in manifests.items()))
    return 0

