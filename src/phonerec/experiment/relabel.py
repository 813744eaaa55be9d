"""Frame labels for a corpus without phone times (speechocean762, a user's own corpus): the train
manifest's phones forced-aligned by a model already trained on it (a first model trained with CTC
alone, or the frame head of a previous round), written as `ground_truth_phn_ends`, so that the
next round can train the frame head (train.frame_weight > 0) on them. This is the flat-start /
realignment loop of HMM training: the model's own posteriors give the first alignment, then
`refine_iterations` rounds of Viterbi training with a narrow-window frame classifier (realign) move
the boundaries to where the sound changes. With `reference` (a manifest with true phone times of
the same utterances, e.g. the synthetic corpus's) each step's labels are measured against it; the
reference is never used for the labels. A corpus whose rows say where each word starts
("word_starts": speechocean762) gets an optional pause between words in the realignment, so that a
pause the transcription does not mark becomes a `pau` instead of stretching a phone.

Memory grows with the corpus only by per-utterance bookkeeping (rows, phone ids, spans) and 2 bytes
a frame of labels, so a corpus of LibriSpeech's size relabels on an ordinary machine: each batch's
posteriors are aligned as the network gives them, and Viterbi training reads the features from the
cache batch by batch (docs/feature_cache.md has the measurements).

The relabelled data folder holds manifests/ (train with the aligned ends, dev and test as they
were, so their boundary figures are never measured against labels the model made) and a link to
the original fbank/ (the features do not change).
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from phonerec.corpora.manifest import read_manifest, write_manifest
from phonerec.data import frame_labels, split_speed
from phonerec.decoding.timing import CTC_METHOD, FRAME_METHOD, frame_head_segments, place_phones
from phonerec.evaluation.boundaries import boundary_metric, forced_row_errors
from phonerec.experiment import closures
from phonerec.experiment.decode import batch_posteriors
from phonerec.experiment.viterbi_training import LABEL_DTYPE, viterbi_training
from phonerec.experiment.train import load_split
from phonerec.fileio import write_json
from phonerec.inference.model import load_model
from phonerec.phones import PAUSE, fold, with_pause_slots
from phonerec.segments import reference_segments

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


def align_manifest(exp_dir, data_dir, split: str = "train", device=None, refine_iterations: int = 0,
                   reference: dict | None = None) -> tuple[dict, dict]:
    """({utt_id: row with ground_truth_phn_ends}, info) of `split`, aligned by the model in `exp_dir`:
    Viterbi on its frame head when it has one, else CTC Viterbi, then `refine_iterations` rounds of
    Viterbi training (refine). An utterance it cannot align (too short for its phones) gets a flat
    start, counted in info["flat_start"]. With `reference` ({utt_id: row with true times}) the labels
    of each step are scored against it in info["label_accuracy"]."""
    model, cfg, tokenizer, cmvn = load_model(exp_dir, device)
    device = next(model.parameters()).device
    manifest = read_manifest(Path(data_dir) / "manifests" / f"{split}.json", check_files=False)
    dataset = load_split(data_dir, split, cfg, tokenizer, cmvn)
    dataset.drop([split_speed(u)[1] == 1.0 for u in dataset.utt_ids])  # the original recordings only
    head = bool(getattr(model, "has_frame_head", False))
    hop_s, n_phones, sr = cfg.features.hop_ms / 1000, cfg.data.train_phones, cfg.features.sample_rate

    def model_ends(row: dict, lp, frame_lp) -> str:
        phones = row["phn"].split()
        folded = fold(phones, n_phones)
        segs = place_phones(lp, frame_lp, tokenizer.encode(folded), folded, model.subsampling * hop_s, hop_s,
                            row["duration"], centre_s=model.centre_offset * hop_s)[0]
        return " ".join(map(str, phone_ends(segs, phones, n_phones, sr, int(round(row["duration"] * sr)))))

    aligned, failed = {}, {}  # utt_id -> its phone ends as the manifest writes them / why it has none
    for batch in batch_posteriors(model, dataset, cfg.data.valid_max_frames, device, head):
        for utt, lp, frame_lp in batch:  # each batch aligned as it comes: no split's posteriors are held
            try:
                aligned[utt] = model_ends(manifest[utt], lp, frame_lp)
            except (KeyError, ValueError) as e:
                failed[utt] = e
    rows, flat = {}, []
    for utt, row in manifest.items():  # in the manifest's order
        if utt not in aligned:
            log.warning("%s: cannot align (%s): flat start", utt, failed.get(utt, "not in the feature cache"))
            flat.append(utt)
            aligned[utt] = " ".join(map(str, uniform_ends(len(row["phn"].split()), int(round(row["duration"] * sr)))))
        rows[utt] = {**row, "ground_truth_phn_ends": aligned.pop(utt)}
    info = {"aligned_by": str(Path(exp_dir).resolve()), "method": FRAME_METHOD if head else CTC_METHOD,
            "split": split, "utterances": len(rows), "flat_start": flat, "refine_iterations": refine_iterations}
    log.info("%s: %d utterances aligned by %s (%s), %d flat starts", split, len(rows), exp_dir, info["method"],
             len(flat))
    accuracy = []  # each step's labels measured against `reference` at once (no step's rows are kept)

    def measure(name: str, step_rows: dict) -> None:
        accuracy.append({"step": name, **label_accuracy(step_rows, reference, n_phones)})

    if reference:
        measure(info["method"], rows)
    if refine_iterations:
        rows, info["refine"] = refine(rows, dataset, tokenizer, n_phones, refine_iterations, hop_s, sr,
                                      (lambda k, r: measure(f"realign {k}", r)) if reference else None)
        info["pauses"] = pause_counts(rows, sr)
        if info["pauses"]["slots"]:
            log.info("%s: %d of %d optional pauses between words kept, %.1f s in all", split, info["pauses"]["kept"],
                     info["pauses"]["slots"], info["pauses"]["seconds"])
    info["label_accuracy"] = accuracy
    return rows, info


def pause_slots(row: dict, n_phones: int) -> tuple[list[str], list[int], list[int]]:
    """(the row's phones with a PAUSE slot between every two words (phones.with_pause_slots), the
    slots' indices, each word's first phone's index among them): words from the row's "word_starts"
    (none: no slots). A pause a previous relabelling kept before a word is that word's slot, so
    relabelling its output gives the same slots."""
    phones = row["phn"].split()
    starts = [int(i) for i in row.get("word_starts", "").split()]
    if not starts:
        return phones, [], []
    word = [None] * starts[0] + [j for j, (a, b) in enumerate(zip(starts, starts[1:] + [len(phones)]))
                                 for _ in range(a, b)]
    keep = [i for i, p in enumerate(phones) if not (p == PAUSE and i + 1 in starts[1:])]
    out, out_word, slots = with_pause_slots([phones[i] for i in keep], [word[i] for i in keep], n_phones)
    return out, slots, [out_word.index(j) for j in range(len(starts))]


def pause_counts(rows: dict, sample_rate: int) -> dict:
    """{slots: pauses between words that relabelling could put, kept: how many it put, seconds: their time}."""
    slots = kept = samples = 0
    for row in rows.values():
        if "word_starts" not in row:
            continue
        phones, ends = row["phn"].split(), [int(e) for e in row["ground_truth_phn_ends"].split()]
        slots += len(row["word_starts"].split()) - 1
        for i in [int(w) - 1 for w in row["word_starts"].split()[1:]]:
            if phones[i] == PAUSE:
                kept, samples = kept + 1, samples + ends[i] - ends[i - 1]
    return {"slots": slots, "kept": kept, "seconds": round(samples / sample_rate, 1)}


class DatasetFeatures:
    """Items of a PhoneDataset as a sequence of their (T, F) normalised features (dataset.features), each
    read from the feature cache when indexed: Viterbi training then holds one batch's frames, not a split's."""

    def __init__(self, dataset, items: list[int]):
        self.dataset, self.items = dataset, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int):
        return self.dataset.features(self.items[k])


def slotted_phones(row: dict, n_phones: int) -> tuple[list[str], list[int], list[int], list[str], list[int]]:
    """(phones with pause slots, the slots, word starts: pause_slots; those phones folded to `n_phones`,
    the slots' positions among the folded ones)."""
    phones, slots, word_starts = pause_slots(row, n_phones)
    folded = fold(phones, n_phones)
    return phones, slots, word_starts, folded, [len(fold(phones[: i + 1], n_phones)) - 1 for i in slots]


def refine(rows: dict, dataset, tokenizer, n_phones: int, iterations: int, hop_s: float, sample_rate: int,
           on_iteration=None) -> tuple[dict, list[dict]]:
    """`rows` with their phone ends moved by Viterbi training (viterbi_training) on `dataset`'s
    normalised features, and its history; utterances with fewer frames than phones keep theirs.
    A row with "word_starts" gets an optional pause between every two words (pause_slots): kept as a
    `pau` of >= PAUSE_FRAMES frames where the classifier hears silence there, dropped elsewhere; its
    "phn" and "word_starts" are rewritten to match. `on_iteration(k, rows)` gets the rows after each
    iteration. Per frame only the labels are held (viterbi_training.LABEL_DTYPE); the features are read
    from the cache batch by batch."""
    hop = int(round(sample_rate * hop_s))
    items, utts, ids, labels, optional = [], [], [], [], []
    for item, (utt, n) in enumerate(zip(dataset.utt_ids, dataset.lengths)):
        if utt not in rows:
            continue
        _, _, _, folded, opt = slotted_phones(rows[utt], n_phones)
        if n < len(folded) - len(opt):
            continue
        items.append(item)
        utts.append(utt)
        ids.append(tokenizer.encode(folded))
        labels.append(frame_labels(rows[utt], n, hop, tokenizer, n_phones).to(LABEL_DTYPE))
        optional.append(opt)

    def rows_from(spans) -> dict:
        out = dict(rows)
        for utt, sp in zip(utts, spans):
            phones, slots, word_starts, folded, opt = slotted_phones(rows[utt], n_phones)
            sp = sp.tolist()  # (L, 2) int32 -> [start, end] ints
            skipped = {k for k in opt if sp[k][0] == sp[k][1]}
            skipped_raw = {i for i, k in zip(slots, opt) if k in skipped}
            position = {}  # index in phones -> index in kept
            for i in range(len(phones)):
                if i not in skipped_raw:
                    position[i] = len(position)
            kept = [phones[i] for i in position]
            keep = [k for k in range(len(folded)) if k not in skipped]
            row = rows[utt]
            n_samples = int(round(row["duration"] * sample_rate))
            segs = frame_head_segments([sp[k] for k in keep], [folded[k] for k in keep], hop_s, row["duration"])
            ends = phone_ends(segs, kept, n_phones, sample_rate, n_samples)
            new = {**row, "phn": " ".join(kept), "ground_truth_phn_ends": " ".join(map(str, ends))}
            if word_starts:
                new["word_starts"] = " ".join(str(position[i]) for i in word_starts)
            out[utt] = new
        return out

    spans, history = viterbi_training(DatasetFeatures(dataset, items), ids, labels, len(tokenizer),
                                      iterations=iterations, optional=optional,
                                      on_iteration=on_iteration and (lambda k, sp: on_iteration(k, rows_from(sp))))
    return rows_from(spans), history


def label_accuracy(rows: dict, reference: dict, n_phones: int) -> dict:
    """Boundary figures (evaluation.boundaries.boundary_metric) of the labels in `rows` against the
    true times of the same utterances in `reference`."""
    errors = []
    for utt, row in rows.items():
        if utt in reference and reference[utt].get("ground_truth_phn_ends"):
            errors += forced_row_errors(reference[utt], reference_segments(row), n_phones)
    return boundary_metric(errors)


def relabel(exp_dir, data_dir, out_dir, device=None, refine_iterations: int = 0, reference=None,
            keep_times: bool = False) -> dict:
    """Write `out_dir/manifests/` (train aligned by the model and refined, the other splits and counts.json
    copied) and `out_dir/fbank` (a link to data_dir/fbank); returns the info also written to aligned.json.
    `reference`: a manifest file with the train utterances' true times, to measure the labels.
    `keep_times`: the train rows keep their given times, only missing closures are put in (closures)."""
    data_dir, out_dir = Path(data_dir).resolve(), Path(out_dir)
    ref = read_manifest(reference, check_files=False) if reference else None
    if keep_times:
        rows, info = closures.keep_times(exp_dir, data_dir, "train", device)
    else:
        rows, info = align_manifest(exp_dir, data_dir, "train", device, refine_iterations, ref)
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
