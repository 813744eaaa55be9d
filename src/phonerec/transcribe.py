"""Transcribe recordings with a trained model: phones, and optionally a time span per phone.

Timestamps come from forced alignment of the decoded phones on the model's own posteriors
(decoding.timing.place_phones): on the frame head's 10 ms posteriors when the model has one (trained
with train.frame_weight > 0), else on the CTC posteriors. The segments tile the whole file, as a
TIMIT .phn file does, and are monotonic. What the model is and how it decodes come from the
inference layer (one resolver for the settings); recordings are read and checked there too.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

from phonerec.config import DecodeConfig
from phonerec.decoding.timing import place_phones
from phonerec.decoding.search import check_decode_config, search
from phonerec.features.fbank import Fbank, normalize, recenter
from phonerec.inference.chunking import CHUNK_FRAMES, long_posteriors
from phonerec.inference.decode_settings import DecodeSettings, lm_matrix_for, resolve
from phonerec.inference.model import load_model
from phonerec.inference.recording import (
    MIN_SECONDS,
    TranscribeError,
    check_samples,
    leveled,
    read_recording,
    recording_problems,
)
from phonerec.inference.transcript import FORMATS, Transcript, format_transcript

__all__ = ["FORMATS", "MIN_SECONDS", "TranscribeError", "Transcriber", "Transcript", "format_transcript"]

log = logging.getLogger(__name__)


class Transcriber:
    """A loaded model plus its feature pipeline and decoder settings."""

    def __init__(self, model, device=None, decode: DecodeConfig | None = None, *, decode_config=None,
                 overrides: dict | None = None, lm_matrix=None, fix_level: bool = False,
                 caller: str = "arguments"):
        """`model`: experiment folder or model file. Decoding: exactly `decode` when given, else the
        one resolver's (inference.decode_settings: the model's own settings <- `decode_config` file <-
        `overrides`, named `caller` in the description). `fix_level`: scale a recording whose level is
        far from the training corpus's back to it."""
        self.fix_level = fix_level
        self.loaded = load_model(model, device or "cpu")
        self.model, self.cfg, self.tokenizer, self.cmvn = self.loaded
        self.device = next(self.model.parameters()).device
        self.settings = (DecodeSettings(check_decode_config(decode), {k: "given" for k in vars(decode)})
                         if decode is not None else resolve(self.loaded, decode_config, overrides, caller))
        self.decode = self.settings.config
        self.lm_matrix = lm_matrix if lm_matrix is not None else lm_matrix_for(self.settings, self.loaded)
        log.info("%s decodes with %s", self.loaded.path, self.settings.describe())
        self.fbank = Fbank(self.cfg.features)
        self.sample_rate = self.cfg.features.sample_rate
        self.hop_s = self.cfg.features.hop_ms / 1000
        self.frame_s = self.model.subsampling * self.hop_s
        self.centre_s = getattr(self.model, "centre_offset", 0.0) * self.hop_s  # output frame 0's centre
        self.frame_head = bool(getattr(self.model, "has_frame_head", False))

    def posteriors(self, wave: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """A mono waveform at the model's rate -> ((T', C) CTC log posteriors, the frame head's
        (T, C) 10 ms log posteriors or None without a head)."""
        return self.posteriors_batch([wave])[0]

    def posteriors_batch(self, waves: list[torch.Tensor]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """One padded forward pass over several mono waveforms -> `posteriors` of each. A waveform
        longer than CHUNK_FRAMES (a lecture) goes through the network in pieces cut at pauses."""
        feats = [self.log_mel(w) for w in waves]  # each (T_i, F)
        if any(len(f) > CHUNK_FRAMES for f in feats):
            return [long_posteriors(lambda piece: self._forward([piece])[0], f, self.model.subsampling)
                    if len(f) > CHUNK_FRAMES else self._forward([f])[0] for f in feats]
        return self._forward(feats)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(T, F) log-mel frames of a waveform as the network reads them, before CMVN (`_forward` applies it);
        in `features.cmvn: utterance` mode recentred on the whole recording's mean, before any cut into pieces."""
        feats = self.fbank(self.leveled(wave) if self.fix_level else wave)
        if self.cfg.features.cmvn == "utterance":
            feats = recenter(feats, [len(feats)], torch.tensor(self.cmvn["mean"]))
        return feats

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """(T, F) normalised features of a waveform: the network's input (corpus_alignment trains on them)."""
        return normalize(self.log_mel(wave), self.cmvn)

    def _forward(self, feats: list[torch.Tensor]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(CTC, frame-head) posteriors of log-mel features, normalised and padded into one batch."""
        feats = [normalize(f, self.cmvn) for f in feats]
        lens = torch.tensor([f.shape[0] for f in feats])
        with torch.no_grad():
            x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(self.device)  # (N, T, F)
            if not self.frame_head:
                lp, out_lens = self.model(x, lens)  # (N, T', C), (N,)
                return [(lp[i, :n].float().cpu().numpy(), None) for i, n in enumerate(out_lens.tolist())]
            lp, out_lens, flp = self.model(x, lens, frames=True)  # ..., (N, T, C)
        return [(lp[i, :n].float().cpu().numpy(), flp[i, :m].float().cpu().numpy())
                for i, (n, m) in enumerate(zip(out_lens.tolist(), lens.tolist()))]

    def load(self, path) -> torch.Tensor:
        """Mono waveform at the model's rate, or TranscribeError with the reason."""
        return self.read(path)[0]

    def read(self, path) -> tuple[torch.Tensor, list[str]]:
        """(mono waveform at the model's rate, its warnings: `warn_if_unusual`), or TranscribeError."""
        wave, source_rate = read_recording(path, self.sample_rate)
        check_samples(wave, self.sample_rate, str(path))
        return wave, self.warn_if_unusual(wave, source_rate, str(path))

    def recording_problems(self, wave: torch.Tensor, source_rate: int) -> list[str]:
        return recording_problems(wave, self.sample_rate, source_rate, self.fbank, self.cmvn["mean"])

    def leveled(self, wave: torch.Tensor) -> torch.Tensor:
        return leveled(wave, self.fbank, self.cmvn["mean"])

    def warn_if_unusual(self, wave: torch.Tensor, source_rate: int, name: str) -> list[str]:
        """'NAME is clipped (...)' for each thing that will make `wave` decode badly (recording_problems),
        each logged as a warning too; [] for an ordinary recording. A Transcript carries them."""
        warnings = [f"{name} {problem}" for problem in self.recording_problems(wave, source_rate)]
        for warning in warnings:
            log.warning("%s", warning)
        return warnings

    def transcribe(self, path, timestamps: bool = False) -> Transcript:
        wave, warnings = self.read(path)
        t = self.transcribe_wave(wave, str(path), timestamps)
        t.warnings = warnings
        return t

    def transcribe_wave(self, wave: torch.Tensor, name: str = "", timestamps: bool = False) -> Transcript:
        return self.transcript(*self.posteriors(wave), len(wave), name, timestamps)

    def transcript(self, lp: np.ndarray, frames: np.ndarray | None, n_samples: int, name: str = "",
                   timestamps: bool = False) -> Transcript:
        """Decode the `posteriors` of an `n_samples` waveform into a Transcript."""
        ids = search(lp, self.decode, self.lm_matrix)
        t = Transcript(name, self.tokenizer.decode(ids), n_samples / self.sample_rate, self.sample_rate)
        if timestamps:
            t.segments, t.confidence = self.segments(lp, frames, ids, t.phones, t.duration)
        return t

    def align_phones(self, wave: torch.Tensor, phones: list[str]) -> list[tuple[float, float, str]]:
        """Time-align a given phone sequence (in the model's set, e.g. a decoded hyp.txt line) to a
        waveform; ValueError if the audio is too short for it."""
        lp, frames = self.posteriors(wave)
        return self.segments(lp, frames, self.tokenizer.align_ids(phones), phones, len(wave) / self.sample_rate)[0]

    def segments(self, lp, frames, ids: list[int], phones: list[str], duration: float,
                 optional=()) -> tuple[list, list[float]]:
        """(segments, confidence per phone) of a known phone sequence (decoding.timing.place_phones:
        the frame head's posteriors when the model has one, else CTC); confidence = the phone's highest
        posterior over its frames, 0 for an optional phone the path skipped (start == end)."""
        segments, spans, on_frames = place_phones(lp, frames, ids, phones, self.frame_s, self.hop_s, duration,
                                                  optional=optional, centre_s=self.centre_s)
        post = frames if on_frames else lp
        return segments, span_confidence(post, spans, ids)


def span_confidence(post: np.ndarray, spans, ids: list[int]) -> list[float]:
    """Each phone's highest posterior over its frames [start, end) of `post` ((T, C) log posteriors); 0 for an
    empty span (an optional phone the path skipped)."""
    return [round(float(math.exp(post[s:e, i].max())), 4) if e > s else 0.0 for (s, e), i in zip(spans, ids)]
