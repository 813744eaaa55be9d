"""Log-mel filterbank features, global CMVN from train only, and the on-disk feature cache.

A split's cache is one file: all frames concatenated in one float16 tensor plus lengths,
so training loads it once into memory and never re-reads audio.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from phonerec.config import FeatureConfig
from phonerec.features import dsp
from phonerec.features.audio import load_audio
from phonerec.features.levels import FLOOR_MARGIN
from phonerec.fileio import torch_save, write_json

log = logging.getLogger(__name__)

FLOOR_POWER = 1e-6  # added to the mel power before the log: digital silence is log(1e-6)
LOG_FLOOR = math.log(FLOOR_POWER)


class FeatureError(ValueError):
    """A feature cache is missing, corrupt or was made with other settings."""


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


@dataclass
class FeatureCache:
    """All utterances of one split: feats (sum T, F) float16, lengths (N,), utt_ids [N]."""

    utt_ids: list[str]
    lengths: torch.Tensor
    feats: torch.Tensor
    config: dict

    @property
    def offsets(self) -> torch.Tensor:
        return torch.cumsum(self.lengths, 0) - self.lengths

    def save(self, path) -> None:
        torch_save({"utt_ids": self.utt_ids, "lengths": self.lengths, "feats": self.feats, "config": self.config}, path)

    @classmethod
    def load(cls, path) -> "FeatureCache":
        path = Path(path)
        if not path.is_file():
            raise FeatureError(f"{path}: feature cache not found (run the features stage first)")
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            cache = cls(d["utt_ids"], d["lengths"], d["feats"], d["config"])
        except Exception as e:
            raise FeatureError(f"{path}: corrupt feature cache ({e}); delete it and rerun the features stage") from None
        if int(cache.lengths.sum()) != cache.feats.shape[0] or len(cache.utt_ids) != len(cache.lengths):
            raise FeatureError(f"{path}: inconsistent feature cache (lengths do not match frames)")
        return cache


def extract(manifest: dict, cfg: FeatureConfig, speeds=(1.0,), progress=None) -> FeatureCache:
    """Compute log-mel features for every utterance of `manifest` at each speed factor.

    Speed factor s != 1 resamples the waveform by 1/s (pitch and tempo change together,
    as Kaldi/ESPnet speed perturbation) and names the copy `<utt_id>-sp<s>`.
    """
    fbank = Fbank(cfg)
    utt_ids, lengths, chunks = [], [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one short utterance at a time: threading only adds overhead
    items = list(manifest.items())
    for utt_id, row in progress(items) if progress else items:
        wave = load_audio(row["wav"], cfg.sample_rate)
        for s in speeds:
            w = wave if s == 1.0 else dsp.resample(wave, round(cfg.sample_rate * s), cfg.sample_rate)
            with torch.no_grad():
                f = fbank(w)  # (frames, n_mels)
            utt_ids.append(utt_id if s == 1.0 else f"{utt_id}-sp{s:g}")
            lengths.append(f.shape[0])
            chunks.append(f.to(torch.float16))
    torch.set_num_threads(threads)
    feats = torch.cat(chunks) if chunks else torch.zeros(0, cfg.n_mels, dtype=torch.float16)
    return FeatureCache(utt_ids, torch.tensor(lengths, dtype=torch.long), feats, _cache_config(cfg))


def _cache_config(cfg: FeatureConfig) -> dict:
    return {k: getattr(cfg, k) for k in ("sample_rate", "n_mels", "win_ms", "hop_ms", "n_fft")}


def check_compatible(cache: FeatureCache, cfg: FeatureConfig, path) -> None:
    """Refuse a cache computed with other analysis settings than the experiment's."""
    if cache.config != _cache_config(cfg):
        raise FeatureError(f"{path}: features were computed with {cache.config}, the config asks for {_cache_config(cfg)}")


def compute_cmvn(cache: FeatureCache) -> dict:
    """Global per-bin mean and standard deviation over all frames (train split only)."""
    x = cache.feats.double()
    mean = x.mean(0)
    std = x.var(0, unbiased=False).clamp_min(1e-8).sqrt()
    return {"mean": mean.tolist(), "std": std.tolist(), "n_frames": int(x.shape[0])}


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
