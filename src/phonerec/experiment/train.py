"""Phone recognizer training and decoding on cached features: the glue between data,
models, CTC, the generic trainer and scoring. Scripts call these functions.

Experiment directory layout:
  exp/<name>/config.yaml        resolved config
  exp/<name>/checkpoints/       epoch-N.pt, best.pt, last.pt (trainer)
  exp/<name>/model.pt           the model to decode with (best or averaged), self-contained
  exp/<name>/history.json       one row per epoch
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from phonerec.config import ConfigError, ExperimentConfig, config_change, save_config, to_dict
from phonerec.corpora.manifest import read_manifest
from phonerec.data import PhoneDataset, make_loader
from phonerec.decoding.ctc import ctc_loss, greedy_decode, min_frames_needed
from phonerec.evaluation.per import score
from phonerec.features.augment import SpecAugment
from phonerec.features.fbank import FeatureCache, check_compatible, load_cmvn
from phonerec.fileio import write_json
from phonerec.records import digest
from phonerec.models import build_model, count_parameters
from phonerec.phones import PhoneTokenizer, stand_ins
from phonerec.training import checkpoint, distributed
from phonerec.training.trainer import Trainer, TrainerConfig, TrainingError, adamw

log = logging.getLogger(__name__)


def load_split(data_dir, split: str, cfg: ExperimentConfig, tokenizer: PhoneTokenizer, cmvn: dict) -> PhoneDataset:
    """Dataset of one split from `data_dir/manifests/<split>.json` and `data_dir/fbank/<split>.pt`."""
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir / "manifests" / f"{split}.json", check_files=False)
    cache_path = data_dir / "fbank" / f"{split}.pt"
    cache = FeatureCache.load(cache_path)
    check_compatible(cache, cfg.features, cache_path)
    return PhoneDataset(cache, manifest, tokenizer, cfg.data.train_phones, cmvn, cfg.features.cmvn == "utterance")


def drop_unalignable(dataset: PhoneDataset, model, split: str) -> list[str]:
    """Remove utterances with fewer model output frames than CTC needs; return their ids (logged)."""
    keep, bad = [], []
    out_lens = model.output_lengths(torch.tensor(dataset.lengths)).tolist()
    for utt_id, n, target in zip(dataset.utt_ids, out_lens, dataset.targets):
        ok = n >= min_frames_needed(target.tolist())
        keep.append(ok)
        if not ok:
            bad.append(utt_id)
    if bad:
        log.warning("%s: %d utterance(s) are too short for CTC after %dx subsampling and are excluded: %s",
                    split, len(bad), model.subsampling, " ".join(bad[:20]) + (" ..." if len(bad) > 20 else ""))
        dataset.drop(keep)
    return bad


def ctc_step(model, batch, augment: SpecAugment | None = None, frame_weight: float = 0.0) -> torch.Tensor:
    """Training loss of one Batch (SpecAugment applied first when given): CTC, plus `frame_weight` x the
    frame head's cross-entropy against Batch.frame_targets (padding -100 ignored) when frame_weight > 0
    and the batch has frame targets: the mean over the frames not ignored (the same bits as nll_loss's mean), and
    for a batch whose frames are all ignored (utterances without times) a zero, not nll_loss's 0 / 0 = nan, that
    keeps the head in the graph (DDP expects a gradient for every parameter) without a host sync."""
    feats = augment(batch.feats) if augment is not None and augment.enabled else batch.feats
    if frame_weight > 0 and batch.frame_targets is not None:
        log_probs, out_lens, frame_lp = model(feats, batch.feat_lens, frames=True)
        targets = batch.frame_targets.reshape(-1)
        frame_ce = torch.nn.functional.nll_loss(frame_lp.reshape(-1, frame_lp.shape[-1]), targets, ignore_index=-100,
                                                reduction="sum") / (targets != -100).sum().clamp(min=1)
        return ctc_loss(log_probs, out_lens, batch.targets, batch.target_lens) + frame_weight * frame_ce
    log_probs, out_lens = model(feats, batch.feat_lens)
    return ctc_loss(log_probs, out_lens, batch.targets, batch.target_lens)


def forward_batches(model, loader, device, frames: bool = False):
    """Run `model` in eval mode, without gradients, over every batch of `loader`:
    yields (batch on device, log_probs (N, T', C), out_lens (N,)), and with `frames` (a model with a
    frame head) also the frame head's (N, T, C) log posteriors (valid: batch.feat_lens)."""
    model.eval()
    with torch.no_grad():
        for batch in loader:
            batch = batch.to(device)
            if frames:
                yield (batch, *model(batch.feats, batch.feat_lens, frames=True))
            else:
                log_probs, out_lens = model(batch.feats, batch.feat_lens)
                yield batch, log_probs, out_lens


def decode_loader(model, loader, tokenizer: PhoneTokenizer, device) -> tuple[dict[str, list[str]], float, int]:
    """Greedy-decode every batch; return ({utt_id: phones}, sum of the finite per-utterance CTC losses
    (per target phone), how many were finite). An utterance CTC cannot align (infinite loss) is left out
    of both, so the mean is over the utterances it averages, not biased low by the ones it drops."""
    hyps, loss_sum, n = {}, 0.0, 0
    for batch, log_probs, out_lens in forward_batches(model, loader, device):
        loss = ctc_loss(log_probs, out_lens, batch.targets, batch.target_lens, reduction="none")
        loss = loss.float().cpu() / batch.target_lens.clamp_min(1)  # lengths are CPU tensors (data.Batch)
        finite = torch.isfinite(loss)
        loss_sum += float(loss[finite].sum())
        n += int(finite.sum())
        for utt_id, ids in zip(batch.utt_ids, greedy_decode(log_probs, out_lens)):
            hyps[utt_id] = tokenizer.decode(ids)
    return hyps, loss_sum, n


def references(dataset: PhoneDataset, tokenizer: PhoneTokenizer) -> dict[str, list[str]]:
    return {u: tokenizer.decode(t.tolist()) for u, t in zip(dataset.utt_ids, dataset.targets)}


@dataclass
class Training:
    """Everything `train` runs, built by `build_training`: scripts/benchmark.py times the same objects."""
    model: torch.nn.Module  # what the trainer steps: `core`, DDP-wrapped under torchrun
    core: torch.nn.Module  # the bare model
    optimizer: torch.optim.Optimizer
    trainer: Trainer
    train_loader: torch.utils.data.DataLoader  # bucketed, reshuffled every epoch; this rank's share
    dev_loader: torch.utils.data.DataLoader
    train_set: PhoneDataset  # without the utterances too short for CTC (`dropped`)
    dev_set: PhoneDataset
    dropped: list[str]
    tokenizer: PhoneTokenizer
    cmvn: dict
    dist: distributed.DistInfo
    extra: dict  # stored in every checkpoint and in model.pt: config, phones, CMVN


def build_training(cfg: ExperimentConfig, data_dir, exp_dir, device=None) -> Training:
    """Data, model, optimizer and trainer for training `cfg` on `data_dir` into exp_dir/checkpoints.

    The order of the random draws (seed, weights, reseed, batch order) is part of the result:
    on CPU with a fixed seed a run, and a killed and resumed run, give the same weights.
    """
    data_dir, exp_dir = Path(data_dir), Path(exp_dir)
    dist_info = distributed.init(device)
    device = dist_info.device
    torch.manual_seed(cfg.train.seed)
    tokenizer = PhoneTokenizer.for_set(cfg.data.train_phones)
    cmvn = load_cmvn(data_dir / "fbank" / "cmvn.json")
    train_set = load_split(data_dir, "train", cfg, tokenizer, cmvn)
    dev_set = load_split(data_dir, "dev", cfg, tokenizer, cmvn)
    core = build_model(cfg.model, len(cmvn["mean"]), len(tokenizer), frame_head=cfg.train.frame_weight > 0)
    if cfg.train.init_from:
        start_from(core, cfg.train.init_from, tokenizer, cmvn, cfg.features.cmvn)
    core = core.to(device)
    if cfg.train.frame_weight > 0 and train_set.frame_targets is None:  # an untrained head would misplace every boundary
        raise TrainingError(f"{data_dir / 'manifests' / 'train.json'}: train.frame_weight is {cfg.train.frame_weight:g} "
                            "but the manifest has no phone times (ground_truth_phn_ends, written by prepare from the "
                            ".PHN files) for any utterance: prepare again, or train without the head "
                            "(--set train.frame_weight=0)")
    if cfg.train.frame_weight > 0 and train_set.n_timed < len(train_set.rows):
        log.info("train: %d of %d utterances have phone times: the frame head learns from those, CTC from all",
                 train_set.n_timed, len(train_set.rows))
    torch.manual_seed(cfg.train.seed + dist_info.rank)  # same initial weights, per-rank dropout/masks
    dropped = drop_unalignable(train_set, core, "train")
    dev_refs = references(dev_set, tokenizer)
    log.info("model %s: %.2f M parameters, time subsampling %dx, %d output classes (%d phones + blank), "
             "device %s, %d process(es)", cfg.model.describe(), count_parameters(core) / 1e6, core.subsampling,
             len(tokenizer), cfg.data.train_phones, device, dist_info.world_size)
    log.info("train: %d utterances (%d frames), dev: %d utterances", len(train_set), sum(train_set.lengths), len(dev_set))
    train_loader = make_loader(train_set, cfg.data.max_frames, shuffle=True, seed=cfg.train.seed,
                               num_workers=cfg.data.num_workers, num_replicas=dist_info.world_size,
                               rank=dist_info.rank, device=device)
    if dist_info.world_size > 1:  # each process decodes its share of dev; the shares are joined below
        dev_set.drop([k % dist_info.world_size == dist_info.rank for k in range(len(dev_set))])
    dev_loader = make_loader(dev_set, cfg.data.valid_max_frames, shuffle=False, device=device)

    def evaluate(m):
        """Dev loss and PER over the whole dev set (every process gets the same figures, so all take the
        same plateau and early-stop decisions)."""
        hyps, loss_sum, n = {}, 0.0, 0
        for part_hyps, part_sum, part_n in distributed.all_gather(
                decode_loader(distributed.unwrap(m), dev_loader, tokenizer, device)):
            hyps.update(part_hyps)
            loss_sum, n = loss_sum + part_sum, n + part_n
        return {"dev_loss": loss_sum / max(n, 1), "dev_per": score(dev_refs, hyps)[0].per}

    t = cfg.train
    model = distributed.wrap(core, dist_info)
    optimizer = adamw(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    trainer_cfg = TrainerConfig.from_settings(t, monitor="dev_per", mode="min",
                                              keep_checkpoints=max(t.keep_checkpoints, t.average))
    counts = torch.bincount(torch.cat(train_set.targets), minlength=len(tokenizer)).tolist()
    extra = {"config": to_dict(cfg), "phones": tokenizer.phones, "cmvn": cmvn,
             "stand_ins": stand_ins(dict(zip(tokenizer.symbols[1:], counts[1:]))), "trained_on": trained_on(data_dir)}
    if extra["stand_ins"]:
        log.info("phones the train labels never have, aligned as: %s",
                 ", ".join(f"{p} -> {q}" for p, q in extra["stand_ins"].items()))
    augment = SpecAugment(t.specaugment)
    trainer = Trainer(model, optimizer, lambda m, b: ctc_step(m, b, augment, t.frame_weight), trainer_cfg,
                      ckpt_dir=exp_dir / "checkpoints", device=device, evaluate=evaluate, extra=extra,
                      is_main=dist_info.is_main)
    return Training(model, core, optimizer, trainer, train_loader, dev_loader, train_set, dev_set, dropped,
                    tokenizer, cmvn, dist_info, extra)


def trained_on(data_dir: Path) -> dict:
    """{split: {manifest, digest}} of the train and dev manifests: model.pt says what it learned from, and
    tuning knows the model's own dev set by its content (experiment.decode)."""
    paths = {split: data_dir / "manifests" / f"{split}.json" for split in ("train", "dev")}
    return {split: {"manifest": str(p.resolve()), "digest": digest(p)} for split, p in paths.items()}


def start_from(model: torch.nn.Module, path, tokenizer: PhoneTokenizer, cmvn: dict, cmvn_mode: str = "global") -> None:
    """Load the weights of another model.pt into `model` (train.init_from): a round of stage 3 continues
    from the previous round instead of leaving CTC's blank-only start again. The frame head, which a
    round-0 model lacks, keeps its fresh weights. The phones and the feature normalisation must be the
    same, or the weights would mean something else here (CheckpointError)."""
    state = checkpoint.load(path)
    if state.get("phones") != tokenizer.phones:
        raise checkpoint.CheckpointError(f"{path}: train.init_from model has other output phones than this config")
    mean = torch.tensor((state.get("cmvn") or {}).get("mean", []), dtype=torch.float64)
    if mean.shape != (len(cmvn["mean"]),) or not torch.allclose(mean, torch.tensor(cmvn["mean"], dtype=torch.float64),
                                                                 atol=1e-4):
        raise checkpoint.CheckpointError(f"{path}: train.init_from model was trained on other features "
                                         "(its CMVN statistics differ from this data's)")
    theirs = ((state.get("config") or {}).get("features") or {}).get("cmvn", "global")
    if theirs != cmvn_mode:
        raise checkpoint.CheckpointError(f"{path}: train.init_from model normalised its features per {theirs} "
                                         f"(features.cmvn), this config per {cmvn_mode}")
    checkpoint.load_weights(model, state["model"], path, may_lack="frame_head")
    log.info("weights from %s (%s)", path, state.get("source", "?"))


def train(cfg: ExperimentConfig, data_dir, exp_dir, *, resume: bool = False, device=None) -> list[dict]:
    """Train the configured model on `data_dir`'s train split, pick the best epoch by dev PER.

    Under `torchrun` (WORLD_SIZE > 1) each process trains on its share of the batches with
    DDP and decodes its share of dev (joined, so all take the same plateau / early-stop decisions);
    rank 0 writes the checkpoints, the model and train.log.
    """
    exp_dir = Path(exp_dir)
    run = build_training(cfg, data_dir, exp_dir, device)
    if run.dist.is_main:
        exp_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, exp_dir / "config.yaml")
    history = run.trainer.fit(run.train_loader, resume=resume)
    if run.dist.is_main:
        write_json(exp_dir / "history.json", history)
        export_model(run.trainer, exp_dir, run.extra, average=cfg.train.average)
    distributed.cleanup()
    return history


def export_model(trainer: Trainer, exp_dir: Path, extra: dict, average: int = 0) -> Path:
    """Write exp_dir/model.pt from the best checkpoint, or the average of the `average` best."""
    ckpt_dir = exp_dir / "checkpoints"
    if average > 1:
        best = [h["epoch"] for h in trainer.best_epochs(average)]
        epochs = [e for e in best if (ckpt_dir / f"epoch-{e}.pt").is_file()]
        if len(epochs) < len(best):  # pruned or deleted: say so, and name only what was averaged
            log.warning("%s: checkpoints of epochs %s are missing; averaging epochs %s only", ckpt_dir,
                        sorted(set(best) - set(epochs)), epochs)
        if not epochs:
            raise TrainingError(f"{ckpt_dir}: none of the best epochs' checkpoints {best} exists to average")
        weights = checkpoint.average_weights([ckpt_dir / f"epoch-{e}.pt" for e in epochs])
        source = f"average of epochs {epochs}"
    else:
        weights, source = checkpoint.load(ckpt_dir / "best.pt")["model"], f"best epoch {trainer.state.best_epoch}"
    out = exp_dir / "model.pt"
    checkpoint.save({"model": weights, "source": source, **extra}, out)
    log.info("wrote %s (%s)", out, source)
    return out


def why_retrain(exp_dir, cfg: ExperimentConfig) -> str | None:
    """Why exp_dir/model.pt cannot stand for training with `cfg` (None: it can).

    The resolved config is stored in model.pt, so a model trained with other settings is never
    taken as up to date (settings that cannot change the weights, e.g. decoding, are ignored).
    """
    path = Path(exp_dir) / "model.pt"
    if not path.is_file():
        return f"{path} does not exist"
    try:  # the comparison of Trainer.resume: one verdict for stage 3 and --resume
        change = config_change(checkpoint.load(path).get("config") or {}, to_dict(cfg))
    except ConfigError as e:  # a stored config today's code cannot read: that model cannot be used as it is
        return f"{path} holds a config this version cannot read ({e})"
    return f"{path} was trained with another config: {change}" if change else None
