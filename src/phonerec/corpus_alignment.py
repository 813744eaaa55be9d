"""Forced alignment of many recordings refined on the recordings themselves, as the Montreal Forced Aligner
aligns a corpus by training on it (`phonerec align` with many files, `align_corpus` in Python). It trains a
classifier, so it sits above the API and `from phonerec import Recognizer` never loads it.

The model places every recording's phones first (forced_alignment: Viterbi on the frame head, CTC
alignment without one). Those
labels then start Viterbi training on these recordings alone (experiment.viterbi_training: a frame
classifier that hears +-10 ms is trained on the current labels, every recording is realigned with it,
`iterations` times), so each boundary moves to where this speaker's, this microphone's sound changes,
which a model trained on other voices only approximates. It needs a few minutes of speech to learn from:
by default (`iterations=None`) it runs when the recordings hold at least ADAPT_MIN_SECONDS, with
ADAPT_ITERATIONS rounds. Measured (recipes/english/README.md): boundaries within 20 ms of the reference
rose from 60.0 to 67 % on the LJSpeech set (42 min), 61.6 to 73 % on a LibriSpeech speaker (25 min,
MFA's times), 78 to 90 % on synthesized speech with exact times; on 8 minutes of either real set, +6 and
+13 points.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from phonerec.api import Recognizer, _one_input
from phonerec.decoding.timing import frame_head_segments
from phonerec.experiment.viterbi_training import LABEL_DTYPE, viterbi_training
from phonerec.forced_alignment import Target, placed_segments, target_transcript
from phonerec.transcribe import Transcriber, Transcript, span_confidence

log = logging.getLogger(__name__)

ADAPT_ITERATIONS = 6  # rounds of train-then-realign (6 and 8 measured alike; README)
ADAPT_MIN_SECONDS = 120.0  # less speech than this is too little to train the classifier on: no refinement
TRAIN_WINDOW = 4000  # frames: the classifier trains on pieces of <= 40 s, so long recordings cost what short ones do


@dataclass
class Placed:
    """One recording's first alignment by the model: what refinement starts from."""
    name: str
    n_samples: int
    target: Target
    segments: list  # (start, end, phone) of every target phone; a skipped pause is empty
    confidence: list
    features: torch.Tensor  # (T, F) normalised, as the network read them, kept in float16
    posteriors: np.ndarray | None  # (T', C) CTC log posteriors, kept only without a frame head (for confidence)
    frames: np.ndarray | None  # (T, C) frame-head log posteriors (None: a CTC-only model)
    warnings: list[str] = field(default_factory=list)


def place(tr: Transcriber, wave: torch.Tensor, name: str, target: Target, posteriors=None,
          warnings=None) -> Placed:
    """The model's alignment of `target` on one waveform (`posteriors`: Transcriber.posteriors of it,
    computed here when not given); TranscribeError naming the recording when it cannot be aligned."""
    lp, frames = posteriors if posteriors is not None else tr.posteriors(wave)
    target, segments, confidence = placed_segments(tr, lp, frames, len(wave), name, target)
    return Placed(name, len(wave), target, segments, confidence, tr.features(wave).half(),
                  lp if frames is None else None, frames, list(warnings or []))


def align_corpus(rec: Recognizer, audio: list, sample_rate: int | None = None, *, phones=None, text=None,
                 lexicon=None, adapt: int | None = None, batch_size: int = 16) -> list[Transcript]:
    """Recognizer.align of many recordings (the same arguments, a list), refined on them: `adapt` rounds (None:
    ADAPT_ITERATIONS when they hold ADAPT_MIN_SECONDS of audio or more, else none; 0: never)."""
    if _one_input(audio):
        raise TypeError("align_corpus takes a list of recordings (paths or waveforms); Recognizer.align takes one")
    _, items, targets = rec._align_inputs(list(audio), phones, text, lexicon)
    placed = rec._batched(items, sample_rate, batch_size,
                          lambda k, lp, frames, wave, name: place(rec._t, wave, name, targets[k], (lp, frames)))
    return refine(rec._t, placed, adapt)


def iterations_for(placed: list[Placed], sample_rate: int, iterations: int | None) -> int:
    """The rounds of refinement to run: `iterations` when given, else ADAPT_ITERATIONS when the recordings
    hold ADAPT_MIN_SECONDS of audio, else 0."""
    if iterations is not None:
        return iterations
    return ADAPT_ITERATIONS if sum(p.n_samples for p in placed) / sample_rate >= ADAPT_MIN_SECONDS else 0


def frame_labels(segments: list, ids: list[int], n_frames: int, hop_s: float) -> torch.Tensor:
    """(T,) label of each frame (centred on t * hop_s) from the segment covering it; skipped pauses cover none."""
    kept = [(e, i) for (s, e, _), i in zip(segments, ids) if e > s]
    ends = np.array([e for e, _ in kept])
    k = np.searchsorted(ends, np.arange(n_frames) * hop_s, side="left").clip(0, len(kept) - 1)
    return torch.from_numpy(np.array([i for _, i in kept], dtype=np.int16)[k])  # LABEL_DTYPE


def refine(tr: Transcriber, placed: list[Placed], iterations: int | None = None, seed: int = 0) -> list[Transcript]:
    """The Transcripts of every recording, after `iterations` rounds of Viterbi training on all of them
    (None: iterations_for). With 0 rounds they are the model's own alignments."""
    iterations = iterations_for(placed, tr.sample_rate, iterations)
    if iterations < 0:
        raise ValueError(f"rounds of refinement must be 0 or more, not {iterations}")
    if not iterations or not placed:
        return [_transcript(tr, p, p.segments, p.confidence) for p in placed]
    ids = [tr.tokenizer.align_ids(p.target.phones) for p in placed]
    labels = [frame_labels(p.segments, i, len(p.features), tr.hop_s).to(LABEL_DTYPE) for p, i in zip(placed, ids)]
    with torch.random.fork_rng():  # viterbi_training seeds torch: the caller's random state is left as it was
        spans, history = viterbi_training(Float32([p.features for p in placed]), ids, labels, len(tr.tokenizer),
                                          iterations=iterations, seed=seed, optional=[p.target.pauses for p in placed],
                                          train_window=TRAIN_WINDOW)
    log.info("alignments refined on %d recording(s) (%.1f min): %d rounds, %.1f %% of frames changed in the last",
             len(placed), sum(p.n_samples for p in placed) / tr.sample_rate / 60, iterations,
             history[-1]["changed_frames_pct"])
    out = []
    for p, sp, i in zip(placed, spans, ids):
        sp = sp.tolist()
        segments = frame_head_segments(sp, p.target.phones, tr.hop_s, p.n_samples / tr.sample_rate)
        out.append(_transcript(tr, p, segments, confidence(p, sp, i, tr.model.subsampling)))
    return out


class Float32(list):
    """The recordings' float16 features, each read as float32."""

    def __getitem__(self, k):
        return super().__getitem__(k).float()


def confidence(p: Placed, spans: list, ids: list[int], subsampling: int) -> list[float]:
    """Each phone's highest posterior over its frames, as Transcriber.segments gives it: the frame head's, or
    without one the CTC output frames overlapping its 10 ms frames; 0 for a skipped pause."""
    if p.frames is not None:
        return span_confidence(p.frames, spans, ids)
    on_outputs = [(s // subsampling, max(s // subsampling + 1, -(-e // subsampling))) if e > s else (s, s)
                  for s, e in spans]
    return span_confidence(p.posteriors, on_outputs, ids)


def _transcript(tr: Transcriber, p: Placed, segments: list, confidence: list) -> Transcript:
    t = target_transcript(tr, p.name, p.n_samples, p.target, segments, confidence)
    t.warnings = p.warnings
    return t
