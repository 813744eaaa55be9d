"""Frame labels for a corpus without phone times (speechocean762, a user's own corpus): the train
manifest's phones forced-aligned by a model already trained on it (a first model trained with CTC
alone, or the frame head of a previous round), written as `ground_truth_phn_ends`, so that the
next round can train the frame head (train.frame_weight > 0) on them. This is the flat-start /
realignment loop of HMM training, with the model's own posteriors as the aligner.

The relabelled data folder holds manifests/ (train with the aligned ends, dev and test as they
were, so their boundary figures are never measured against labels the model made) and a link to
the original fbank/ (the features do not change).
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from phonerec.corpora.manifest import read_manifest, write_manifest
from phonerec.data import split_speed
from phonerec.decoding.align import CTC_METHOD, FRAME_METHOD, align_known
from phonerec.experiment.decode import compute_posteriors
from phonerec.experiment.train import load_model, load_split
from phonerec.fileio import write_json
from phonerec.phones import fold

log = logging.getLogger(__name__)


def phone_ends(segments: list, phones: list[str], n_phones: int, sample_rate: int, n_samples: int) -> list[int]:
    """End sample of each manifest phone from the segments of its folded sequence (one segment per
    phone that folds to a symbol; a `q`, which folds to nothing, ends where the phone before it
    ends). The last end is the file's last sample, so the ends tile the file as a .PHN does."""
    kept = sum(bool(fold([p], n_phones)) for p in phones)
    if kept != len(segments):
        raise ValueError(f"{len(segments)} segments for {kept} folded phones")
    ends, k = [], 0
    for p in phones:
        if fold([p], n_phones):
            ends.append(min(int(round(segments[k][1] * sample_rate)), n_samples))
            k += 1
        else:
            ends.append(ends[-1] if ends else 0)
    ends[-1] = n_samples
    return ends


def uniform_ends(n: int, n_samples: int) -> list[int]:
    """A flat start: `n` phones of equal length (for an utterance the model cannot align)."""
    return [round(n_samples * (i + 1) / n) for i in range(n)]


def align_manifest(exp_dir, data_dir, split: str = "train", device=None) -> tuple[dict, dict]:
    """({utt_id: row with ground_truth_phn_ends}, info) of `split`, aligned by the model in `exp_dir`:
    Viterbi on its frame head when it has one, else CTC Viterbi. An utterance it cannot align (too
    short for its phones) gets a flat start, counted in info["flat_start"]."""
    model, cfg, tokenizer, cmvn = load_model(exp_dir, device)
    device = next(model.parameters()).device
    manifest = read_manifest(Path(data_dir) / "manifests" / f"{split}.json", check_files=False)
    dataset = load_split(data_dir, split, cfg, tokenizer, cmvn)
    dataset.drop([split_speed(u)[1] == 1.0 for u in dataset.utt_ids])  # the original recordings only
    head = bool(getattr(model, "has_frame_head", False))
    frames = {} if head else None
    post = compute_posteriors(model, dataset, cfg.data.valid_max_frames, device, frames)
    hop_s, n_phones, sr = cfg.features.hop_ms / 1000, cfg.data.train_phones, cfg.features.sample_rate
    rows, flat = {}, []
    for utt, row in manifest.items():
        phones = row["phn"].split()
        folded = fold(phones, n_phones)
        n_samples = int(round(row["duration"] * sr))
        try:
            segs = align_known(post[utt], frames[utt] if head else None, tokenizer.encode(folded), folded,
                               model.subsampling * hop_s, hop_s, row["duration"])
            ends = phone_ends(segs, phones, n_phones, sr, n_samples)
        except (KeyError, ValueError) as e:
            log.warning("%s: cannot align (%s): flat start", utt, e)
            flat.append(utt)
            ends = uniform_ends(len(phones), n_samples)
        rows[utt] = {**row, "ground_truth_phn_ends": " ".join(map(str, ends))}
    info = {"aligned_by": str(Path(exp_dir).resolve()), "method": FRAME_METHOD if head else CTC_METHOD,
            "split": split, "utterances": len(rows), "flat_start": flat}
    log.info("%s: %d utterances aligned by %s (%s), %d flat starts", split, len(rows), exp_dir, info["method"],
             len(flat))
    return rows, info


def relabel(exp_dir, data_dir, out_dir, device=None) -> dict:
    """Write `out_dir/manifests/` (train aligned by the model, the other splits and counts.json copied)
    and `out_dir/fbank` (a link to data_dir/fbank); returns the info also written to aligned.json."""
    data_dir, out_dir = Path(data_dir).resolve(), Path(out_dir)
    rows, info = align_manifest(exp_dir, data_dir, "train", device)
    (out_dir / "manifests").mkdir(parents=True, exist_ok=True)
    write_manifest(out_dir / "manifests" / "train.json", rows)
    for src in (data_dir / "manifests").glob("*.json"):
        if src.name != "train.json":
            shutil.copyfile(src, out_dir / "manifests" / src.name)
    link = out_dir / "fbank"
    if link.is_symlink() or link.exists():
        if not link.is_symlink():
            raise FileExistsError(f"{link} exists and is not a link to the features")
        link.unlink()
    link.symlink_to(data_dir / "fbank", target_is_directory=True)
    write_json(out_dir / "manifests" / "aligned.json", info)
    return info
