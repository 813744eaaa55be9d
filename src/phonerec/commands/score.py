"""Stage score: decode_<split>/hyp.txt + manifest references -> per.json, per_utt.txt, and the
sclite-style summary.txt / summary.json (per speaker, per phone, confusions); all on 39 phones,
under the default convention (sil merged, SpeechBrain's), with Kaldi s5's optional-silence PER
beside it in per.json and on the console (see phonerec.evaluation.per).
--report then writes exp/<name>/report.md with plots (training curves, confusions, examples)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from phonerec.corpora.manifest import ManifestError, read_manifest
from phonerec.evaluation.boundaries import score_alignment, summary_line
from phonerec.evaluation.per import analyze, read_hyp_file, score, write_score, write_summary
from phonerec.evaluation.report import write_report
from phonerec.fileio import write_json
from phonerec.logs import setup_logging

log = logging.getLogger("score")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--exp", required=True, help="experiment folder holding decode_<split>/hyp.txt")
    p.add_argument("--data", required=True, help="data folder with manifests/ (the references)")
    p.add_argument("--splits", nargs="+", default=["dev", "test"])
    p.add_argument("--report", action="store_true", help="also write exp/<name>/report.md and its plots")
    p.add_argument("--examples", type=int, default=3, help="example utterances plotted in the report")
    a = p.parse_args(argv)
    setup_logging(Path(a.exp) / "log" / "score.log")
    for split in a.splits:
        decode_dir = Path(a.exp) / f"decode_{split}"
        try:
            manifest = read_manifest(Path(a.data) / "manifests" / f"{split}.json", check_files=False)
            hyps = read_hyp_file(decode_dir / "hyp.txt")
            refs = {u: r["phn"].split() for u, r in manifest.items()}
            result, rows = score(refs, hyps)
            optional_sil, _ = score(refs, hyps, "sil_optional")
            analysis = analyze(refs, hyps)
        except (ManifestError, FileNotFoundError, ValueError) as e:
            log.error("%s: %s", split, e)
            return 1
        write_score(decode_dir, result, rows, [optional_sil], split_counts(Path(a.data), split))
        write_summary(decode_dir, analysis, f"{Path(a.exp).name} {split}")
        print(f"{split} {result.line()}  | {optional_sil.convention}: PER {optional_sil.per:.2f} %  "
              f"-> {decode_dir / 'per.json'}, summary.txt")
        try:
            alignment = score_boundaries(decode_dir, manifest)
        except (KeyError, ValueError) as e:
            log.error("%s: %s: %s", split, decode_dir / "segments.json", e)
            return 1
        if alignment:
            print(f"{summary_line(split, alignment)}  -> {decode_dir / 'alignment.json'}")
    if a.report:
        print(f"report -> {write_report(a.exp, a.data, a.splits, a.examples)}")
    return 0


def score_boundaries(decode_dir: Path, manifest: dict) -> dict | None:
    """decode_<split>/alignment.json (phone boundary accuracy, phonerec.evaluation.boundaries) from the
    segments.json the decode stage writes when the manifest carries the .PHN times."""
    if not all(r.get("ground_truth_phn_ends") for r in manifest.values()):
        return None
    path = decode_dir / "segments.json"
    if not path.is_file():
        log.warning("%s: missing (decode again to measure phone boundaries)", path)
        return None
    segments = json.loads(path.read_text())
    alignment = score_alignment(segments, manifest, segments["phone_set"])
    write_json(decode_dir / "alignment.json", alignment)
    return alignment


def split_counts(data: Path, split: str) -> dict:
    """The split's utterance counts recorded by prepare (manifests/counts.json), for per.json."""
    path = data / "manifests" / "counts.json"
    if not path.is_file():
        return {}
    return {"utterances": json.loads(path.read_text()).get(split, {})}

