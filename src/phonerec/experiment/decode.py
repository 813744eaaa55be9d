"""Decode whole splits of an experiment: network posteriors once, then greedy or beam search
(+ bigram LM), and the LM weight / insertion bonus grid search on dev.

The network runs once per split; the search is repeated on the stored posteriors, so
tuning a grid of LM weights costs only search time. Tuning is only allowed on a
non-test split, and its choice is what the test split is decoded with. A model file changes only
when that is what its user wants: the tuned settings and their LM are stored in model.pt (so whoever
loads it decodes as it was tuned to) when they were tuned on the model's own dev set (the manifest's
content is the one model.pt says it trained with) or when asked (`store_tuned=True`); else they
decode this run only. How a model decodes otherwise: inference.decode_settings, the one resolver.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from phonerec.config import DecodeConfig
from phonerec.corpora.manifest import read_manifest
from phonerec.data import make_loader
from phonerec.decoding.timing import align_split
from phonerec.decoding.lm import load_or_estimate
from phonerec.decoding.search import LM_FILE, decode_posteriors
from phonerec.evaluation.per import score, write_hyp_file
from phonerec.experiment.train import forward_batches, load_split
from phonerec.fileio import write_json
from phonerec.inference.decode_settings import resolve, store_tuned
from phonerec.inference.model import load_model
from phonerec.phones import PhoneTokenizer
from phonerec.records import digest

log = logging.getLogger(__name__)

GRID_LM_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
GRID_BONUSES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def batch_posteriors(model, dataset, max_frames: int, device, frames: bool = False):
    """The network's posteriors of a dataset one batch at a time (a generator), so that a caller that
    uses each utterance's as they come (relabel) never holds a split's. Yields per batch a list of
    (utt_id, (T', C) float32 CTC log posteriors, (T, C) float32 frame-head log posteriors, or None
    without `frames`; the model must then have a frame head)."""
    loader = make_loader(dataset, max_frames, shuffle=False, device=device)
    for batch, log_probs, out_lens, *rest in forward_batches(model, loader, device, frames=frames):
        lp = log_probs.float().cpu().numpy()  # (N, T', C)
        flp = rest[0].float().cpu().numpy() if rest else None  # (N, T, C)
        yield [(utt_id, lp[i, :n], None if flp is None else flp[i, :t]) for i, (utt_id, n, t)
               in enumerate(zip(batch.utt_ids, out_lens.tolist(), batch.feat_lens.tolist()))]


def compute_posteriors(model, dataset, max_frames: int, device, frames: dict | None = None) -> dict[str, np.ndarray]:
    """{utt_id: (T', C) float32 log posteriors} for a whole dataset, batched. With `frames` (a dict; the
    model must have a frame head) it is filled with {utt_id: (T, C) frame-head log posteriors} of the
    same forward pass. Holds the split: for dev and test, which decoding searches again and again."""
    out = {}
    for utts in batch_posteriors(model, dataset, max_frames, device, frames is not None):
        for utt_id, lp, flp in utts:
            out[utt_id] = lp
            if flp is not None:
                frames[utt_id] = flp
    return out


def tune(posteriors: dict[str, np.ndarray], refs: dict[str, list[str]], tokenizer: PhoneTokenizer,
         dcfg: DecodeConfig, lm_matrix: np.ndarray, lm_weights=GRID_LM_WEIGHTS,
         bonuses=GRID_BONUSES) -> tuple[DecodeConfig, list[dict]]:
    """Grid search of LM weight x insertion bonus by PER (beam search, dcfg's beam).
    Ties go to the smaller LM weight, then the bonus nearest 0 (the simpler setting)."""
    rows = []
    for w in lm_weights:
        for b in bonuses:
            cand = dataclasses.replace(dcfg, method="beam", lm_weight=float(w), insertion_bonus=float(b))
            t0 = time.perf_counter()
            result, _ = score(refs, decode_posteriors(posteriors, tokenizer, cand, lm_matrix))
            rows.append({"lm_weight": float(w), "insertion_bonus": float(b), "per": result.per,
                         "sub": result.sub, "del": result.dels, "ins": result.ins})
            log.info("tune: lm_weight %.2f insertion_bonus %+.2f -> PER %.2f %% (S %d D %d I %d) [%.1f s]",
                     w, b, result.per, result.sub, result.dels, result.ins, time.perf_counter() - t0)
    best = min(rows, key=lambda r: (r["per"], r["lm_weight"], abs(r["insertion_bonus"])))
    for key, values in (("lm_weight", lm_weights), ("insertion_bonus", bonuses)):
        if len(values) > 2 and best[key] in (min(values), max(values)):
            log.warning("tune: the best %s (%g) is at the edge of the grid %s; a wider grid may do better",
                        key, best[key], sorted(values))
    return dataclasses.replace(dcfg, method="beam", lm_weight=best["lm_weight"],
                               insertion_bonus=best["insertion_bonus"]), rows


def decode_experiment(exp_dir, data_dir, splits, dcfg: DecodeConfig | None = None, *, decode_config=None,
                      overrides: dict | None = None, tune_on: str | None = None, store_tuned_settings: bool = False,
                      lm_weights=GRID_LM_WEIGHTS, bonuses=GRID_BONUSES, device=None) -> dict[str, dict]:
    """Decode `splits` of an experiment; write decode_<split>/hyp.txt and decode.json.

    The decode config is inference.decode_settings.resolve's (the model's own, <- `decode_config` file
    <- `overrides`), or exactly `dcfg` when given. With `tune_on` (a dev split) the LM weight and
    insertion bonus are grid-searched there first and the best pair decodes every split; model.pt keeps
    them when `tune_on` is the model's own dev set or `store_tuned_settings` (module doc).
    Returns {split: decode.json contents}.
    """
    exp_dir, data_dir = Path(exp_dir), Path(data_dir)
    if tune_on is not None and tune_on.startswith("test"):
        raise ValueError("refusing to tune on the test split: tune on dev")
    loaded = load_model(exp_dir, device)
    model, cfg, tokenizer, cmvn = loaded
    device = next(model.parameters()).device
    settings = resolve(loaded, decode_config, overrides, caller="command line")
    dcfg, lm = dcfg or settings.config, settings.carried_lm
    if tune_on and dcfg.method != "beam":
        log.info("tuning implies beam search (beam %d)", dcfg.beam)
        dcfg = dataclasses.replace(dcfg, method="beam")
    lm_matrix, lm_path = None, None
    if dcfg.method == "beam" and (dcfg.lm_weight or tune_on):
        if lm is not None:  # the LM the model was tuned with, whatever corpus `data_dir` holds
            lm_path = f"{loaded.path} (the LM it carries)"
        else:
            lm_path = exp_dir / LM_FILE
            lm = load_or_estimate(lm_path, data_dir / "manifests" / "train.json", tokenizer.phones)
        lm_matrix = lm.matrix(tokenizer.symbols)
    hop_s = cfg.features.hop_ms / 1000
    cache: dict[str, tuple[dict, float, float]] = {}
    frame_cache: dict[str, dict | None] = {}  # frame-head posteriors, when the model has the head

    def posteriors(split):
        if split not in cache:
            dataset = load_split(data_dir, split, cfg, tokenizer, cmvn)
            t0 = time.perf_counter()
            frame_cache[split] = {} if getattr(model, "has_frame_head", False) else None
            post = compute_posteriors(model, dataset, cfg.data.valid_max_frames, device, frame_cache[split])
            cache[split] = (post, time.perf_counter() - t0, sum(dataset.lengths) * hop_s)
        return cache[split]

    tuned = None
    if tune_on:
        post, _, _ = posteriors(tune_on)
        manifest = read_manifest(data_dir / "manifests" / f"{tune_on}.json", check_files=False)
        refs = {u: manifest[u]["phn"].split() for u in post}
        dcfg, grid = tune(post, refs, tokenizer, dcfg, lm_matrix, lm_weights, bonuses)
        tuned = {"split": tune_on, "grid": grid, "best_per": min(r["per"] for r in grid)}
        log.info("tuned on %s: lm_weight %.2f, insertion_bonus %+.2f (PER %.2f %%)", tune_on, dcfg.lm_weight,
                 dcfg.insertion_bonus, tuned["best_per"])
        manifest_path = data_dir / "manifests" / f"{tune_on}.json"
        tuned_on = {"split": tune_on, "manifest": str(manifest_path.resolve()), "digest": digest(manifest_path)}
        own = (loaded.info.get("trained_on") or {}).get("dev", {}).get("digest")
        if store_tuned_settings or (own is not None and own == tuned_on["digest"]):
            store_tuned(loaded.path, dcfg, lm, tuned_on, tuned["best_per"])
            log.info("%s now decodes with the settings tuned on %s by default (%s)", loaded.path, manifest_path,
                     _describe(dcfg))
        else:
            log.info("%s left as it was: %s is not the dev set the model trained with (settings used for this "
                     "run only; --store-tuned keeps them)", loaded.path, manifest_path)
    results = {}
    for split in splits:
        post, net_s, audio_s = posteriors(split)
        t0 = time.perf_counter()
        hyps = decode_posteriors(post, tokenizer, dcfg, lm_matrix)
        search_s = time.perf_counter() - t0
        out_dir = exp_dir / f"decode_{split}"
        write_hyp_file(out_dir / "hyp.txt", hyps)
        info = {**dataclasses.asdict(dcfg), "lm": str(lm_path) if lm_path and dcfg.lm_weight else None,
                "tuned_on": tuned["split"] if tuned else None, "n_utts": len(hyps),
                "audio_seconds": round(audio_s, 2), "network_seconds": round(net_s, 3),
                "search_seconds": round(search_s, 3)}
        if tuned:
            info["tuning"] = tuned
        write_json(out_dir / "decode.json", info)
        write_segments(out_dir, data_dir / "manifests" / f"{split}.json", post, hyps, tokenizer,
                       cfg.data.train_phones, model.subsampling * hop_s, frame_cache.get(split), hop_s,
                       model.centre_offset * hop_s)
        log.info("%s: %d utterances (%.0f s of audio) decoded (%s) in %.2f s network + %.2f s search -> %s",
                 split, len(hyps), audio_s, _describe(dcfg), net_s, search_s, out_dir / "hyp.txt")
        results[split] = info
    return results


def write_segments(out_dir: Path, manifest_path: Path, post: dict, hyps: dict, tokenizer: PhoneTokenizer,
                   n_phones: int, frame_s: float, frame_post: dict | None = None,
                   hop_s: float | None = None, centre_s: float = 0.0) -> Path:
    """decode_<split>/segments.json: segments of the reference and decoded phones, for the score
    stage's boundary metric (when the manifest carries the .PHN times) and the report's examples.
    From the frame head's posteriors `frame_post` (frames `hop_s` apart) when given (frame_viterbi),
    else CTC Viterbi."""
    manifest = read_manifest(manifest_path, check_files=False)
    t0 = time.perf_counter()
    segments = align_split(post, manifest, hyps, tokenizer, n_phones, frame_s, frame_post, hop_s, centre_s=centre_s)
    write_json(out_dir / "segments.json", segments, indent=None)
    log.info("%s: %s alignments of reference and decoded phones in %.2f s%s", out_dir / "segments.json",
             segments["method"], time.perf_counter() - t0,
             f"; {len(segments['failed'])} utterance(s) too short to align" if segments["failed"] else "")
    return out_dir / "segments.json"


def _describe(dcfg: DecodeConfig) -> str:
    penalty = f", blank_penalty {dcfg.blank_penalty:g}" if dcfg.blank_penalty else ""
    if dcfg.method == "greedy":
        return "greedy" + penalty
    return f"beam {dcfg.beam}, lm_weight {dcfg.lm_weight:g}, insertion_bonus {dcfg.insertion_bonus:+g}{penalty}"
