"""Log-mel filterbank features, global CMVN from train only, and the extraction into a split's cache.

A split's cache is on disk (features.store: one raw frames file, an index, an identity JSON),
written one utterance at a time as it is computed and read one utterance at a time by training,
so neither holds the corpus in memory.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch

from phonerec.config import FeatureConfig
from phonerec.features import dsp
from phonerec.features.audio import load_audio
from phonerec.features.levels import FLOOR_MARGIN
from phonerec.features.store import CacheWriter, FeatureCache, FeatureError
from phonerec.fileio import write_json

__all__ = ["CacheWriter", "FeatureCache", "FeatureError", "Fbank", "check_compatible", "compute_cmvn", "extract",
           "load_cmvn", "normalize", "recenter", "save_cmvn"]

log = logging.getLogger(__name__)

FLOOR_POWER = 1e-6  # added to the mel power before the log: digital silence is log(1e-6)
LOG_FLOOR = math.log(FLOOR_POWER)


class Fbank(torch.nn.Module):
    """Waveform (T,) or (N, T) at `sample_rate` -> log-mel frames (frames, n_mels) or (N, frames, n_mels).

    Frame t is centred on sample t * hop, so CTC frame indices map straight to times.
    """

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.hop = int(round(cfg.sample_rate * cfg.hop_ms / 1000))
        self.mel = dsp.mel_spectrogram(cfg.sample_rate, cfg.n_fft, int(round(cfg.sample_rate * cfg.win_ms / 1000)),
                                       self.hop, cfg.n_mels)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = self.mel(wave)  # (..., n_mels, frames)
        return torch.log(spec + FLOOR_POWER).transpose(-1, -2)  # (..., frames, n_mels)


def extract(manifest: dict, cfg: FeatureConfig, speeds=(1.0,), progress=None, *, out) -> FeatureCache:
    """Compute log-mel features for every utterance of `manifest` at each speed factor and write
    them, one utterance at a time, to the cache whose index is `out` (`<data>/fbank/<split>.pt`);
    return that cache, opened.

    Speed factor s != 1 resamples the waveform by 1/s (pitch and tempo change together,
    as Kaldi/ESPnet speed perturbation) and names the copy `<utt_id>-sp<s>`.
    """
    fbank = Fbank(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one short utterance at a time: threading only adds overhead
    items = list(manifest.items())
    try:
        with CacheWriter(out, _cache_config(cfg), cfg.n_mels) as writer:
            for utt_id, row in progress(items) if progress else items:
                wave = load_audio(row["wav"], cfg.sample_rate)
                for s in speeds:
                    w = wave if s == 1.0 else dsp.resample(wave, round(cfg.sample_rate * s), cfg.sample_rate)
                    with torch.no_grad():
                        f = fbank(w)  # (frames, n_mels)
                    writer.add(utt_id if s == 1.0 else f"{utt_id}-sp{s:g}", f.to(torch.float16))
    finally:
        torch.set_num_threads(threads)
    return FeatureCache.load(out)


def _cache_config(cfg: FeatureConfig) -> dict:
    return {k: getattr(cfg, k) for k in ("sample_rate", "n_mels", "win_ms", "hop_ms", "n_fft")}


def check_compatible(cache: FeatureCache, cfg: FeatureConfig, path) -> None:
    """Refuse a cache computed with other analysis settings than the experiment's."""
    if cache.config != _cache_config(cfg):
        raise FeatureError(f"{path}: features were computed with {cache.config}, the config asks for {_cache_config(cfg)}")


def compute_cmvn(cache: FeatureCache, chunk_frames: int = 1 << 18) -> dict:
    """Global per-bin mean and standard deviation over all frames (train split only), in one
    streaming pass over blocks of `chunk_frames` frames: each block's float64 mean and variance are
    merged into the running ones (Chan et al.'s pairwise update), so memory does not grow with the
    split (a block of 2^18 frames x 80 bins is 168 MB in float64). A split of one block (the
    synthetic corpus of `make run`) gives exactly the figures of all its frames at once; more blocks
    differ from them by ~1e-14 relative, far below float32, in which normalize applies them."""
    n, mean, var = 0, torch.zeros(cache.dim, dtype=torch.float64), torch.zeros(cache.dim, dtype=torch.float64)
    for block in cache.chunks(chunk_frames):
        x = block.double()  # (n_b, F)
        n_b, mean_b, var_b = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        if n == 0:
            n, mean, var = n_b, mean_b, var_b
            continue
        total, delta = n + n_b, mean_b - mean
        mean = mean + delta * (n_b / total)
        var = (var * n + var_b * n_b + delta.square() * (n * n_b / total)) / total
        n = total
    std = var.clamp_min(1e-8).sqrt()
    return {"mean": mean.tolist(), "std": std.tolist(), "n_frames": n}


def save_cmvn(cmvn: dict, path) -> None:
    write_json(path, cmvn)


def load_cmvn(path) -> dict:
    path = Path(path)
    try:
        cmvn = json.loads(path.read_text())
        assert len(cmvn["mean"]) == len(cmvn["std"])
    except FileNotFoundError:
        raise FeatureError(f"{path}: CMVN statistics not found (run the features stage first)") from None
    except Exception:
        raise FeatureError(f"{path}: corrupt CMVN statistics file") from None
    return cmvn


def normalize(feats: torch.Tensor, cmvn: dict, lengths=None) -> torch.Tensor:
    """(…, F) features -> float32, zero mean and unit variance per bin with the train set's CMVN.
    With `lengths` (frames of each utterance in `feats`, (sum T, F) or one (T, F)), each utterance's
    own mean is first moved to the train set's (recenter): the `features.cmvn: utterance` mode."""
    mean = torch.tensor(cmvn["mean"], dtype=torch.float32)
    std = torch.tensor(cmvn["std"], dtype=torch.float32)
    feats = feats.float() if lengths is None else recenter(feats, lengths, mean)
    return (feats - mean) / std


def recenter(feats: torch.Tensor, lengths, mean: torch.Tensor) -> torch.Tensor:
    """(sum T, F) -> float32 with each utterance's per-bin mean moved to `mean`. A fixed gain or
    microphone response adds a constant to every log-mel bin, which global CMVN passes on to the model;
    this takes it out. The utterance mean is over frames above the log floor (digital silence, padding
    from a recorder, would drag it down); an utterance of nothing but such frames is left as it is."""
    out = feats.float().clone()
    for seg in out.split([int(n) for n in lengths]):
        sound = seg.mean(-1) > LOG_FLOOR + FLOOR_MARGIN
        if bool(sound.any()):
            seg += mean - seg[sound].mean(0)  # in place: seg is a view of out
    return out
