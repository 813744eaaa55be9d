"""The Python entry point: two lines from a trained model folder to phones with times.

    from phonerec import Recognizer
    r = Recognizer.load("recipes/timit/exp/crdnn_quick")          # folder or model.pt, CPU or CUDA
    r.transcribe("a.wav").phones                                   # or (waveform, sample_rate), or lists
    r.align("a.wav", text="she had your dark suit").to_textgrid()  # or phones=[...] / a .PHN file
    r.description.decoding                                         # what was loaded, and how it decodes

model.pt carries the config, the phone set and the CMVN statistics, so nothing else is needed
(SpeechBrain's EncoderASR lost TIMIT's label encoder this way: its issue #1446).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from phonerec.forced_alignment import aligned_transcript, alignment_target
from phonerec.features import dsp
from phonerec.inference.bundled import CARD_NAME, bundled_card, bundled_model_path, model_or_bundled
from phonerec.inference.recording import check_samples
from phonerec.transcribe import TranscribeError, Transcriber, Transcript

log = logging.getLogger(__name__)

MAX_CHANNELS = 16  # a 2-D waveform's channel axis is the one no longer than this


@dataclass(frozen=True)
class ModelDescription:
    """What `Recognizer.load` read, so that whoever describes the model (the page) need not read the file again."""
    path: Path  # the model file
    info: dict  # model.pt's entries other than the weights (LoadedModel.info): config, source, trained_on, decoding...
    card: dict | None  # its card: the bundled model's (inference.bundled), else card.json beside the file, else None
    decoding: str  # the resolved decode settings and where each came from (DecodeSettings.describe())
    n_params: int  # the network's parameters


def model_card(path: Path) -> dict | None:
    """The card of the model file at `path`, or None when it has none; an unreadable card is logged and
    left out (it only describes the model)."""
    if path.resolve() == bundled_model_path():
        return bundled_card()
    card_path = path.parent / CARD_NAME
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable model card, ignored (%s)", card_path, e)
        return None
    if not isinstance(card, dict):
        log.warning("%s: a model card is a JSON object; ignored", card_path)
        return None
    return card


def _one_input(audio) -> bool:
    """A path, an array or tensor, or a list of numbers (one waveform), as opposed to a list of inputs."""
    if not isinstance(audio, (list, tuple)):
        return True
    return len(audio) > 0 and isinstance(audio[0], (int, float, np.number))


def _channel_axis(shape: tuple, name: str) -> int:
    """Which axis of a 2-D waveform holds the channels: soundfile gives (samples, channels), torchaudio
    (channels, samples); the short axis is the channels, and a shape where both or neither are short is
    refused rather than guessed (down-mixing samples would make noise)."""
    short = [axis for axis in (0, 1) if shape[axis] <= MAX_CHANNELS]
    if len(short) != 1:
        raise TranscribeError(f"{name}: cannot tell channels from samples in shape {shape} "
                              f"(expected (channels, samples) or (samples, channels), at most {MAX_CHANNELS} channels)")
    return short[0]


class Recognizer:
    """A trained phone recognizer: `transcribe` or `align` files or waveforms, one or many (batched)."""

    def __init__(self, transcriber: Transcriber):
        self._t = transcriber

    @classmethod
    def load(cls, model=None, device: str | None = None, *, fix_level: bool = False, **decode) -> "Recognizer":
        """Load an experiment folder or model file (none: the English model shipped in the package,
        inference.bundled; its card says what it was trained on). `device`: "cpu", "cuda"... (default: cuda when
        available). `fix_level`: scale recordings far quieter or louder than the training corpus back
        to its level. `decode`: method="beam", beam=16, lm_weight=..., insertion_bonus=..., blank_penalty=... (default:
        the model's own settings: those tuned on dev with the LM it carries, if `decode.py --tune` ran, else its
        config's); CheckpointError for a missing or foreign model file."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(Transcriber(model_or_bundled(model), device, overrides=decode, fix_level=fix_level,
                               caller="Recognizer.load"))

    @property
    def phones(self) -> list[str]:
        """The phone set the model outputs (48 or 61 TIMIT phones)."""
        return list(self._t.tokenizer.phones)

    @property
    def sample_rate(self) -> int:
        return self._t.sample_rate

    @cached_property
    def description(self) -> ModelDescription:
        """What was loaded and how it decodes (model.pt's entries, its card, the resolved decode settings)."""
        loaded = self._t.loaded
        return ModelDescription(loaded.path, loaded.info, model_card(loaded.path), self._t.settings.describe(),
                                sum(p.numel() for p in self._t.model.parameters()))

    def transcribe(self, audio, sample_rate: int | None = None, *, timestamps: bool = True,
                   batch_size: int = 16) -> Transcript | list[Transcript]:
        """Phones (and, with `timestamps`, start/end seconds and a confidence per phone).

        `audio`: a path, a waveform (1-D, (channels, samples) or soundfile's (samples, channels)) with
        its `sample_rate`, or a list of either; a list gives a list, decoded `batch_size` at a time in one padded forward pass.
        An unreadable, empty or too short input raises TranscribeError naming it, as the CLI does.
        """
        single = _one_input(audio)
        out = self._batched([audio] if single else list(audio), sample_rate, batch_size, lambda k, lp, frames, wave, name:
                            self._t.transcript(lp, frames, len(wave), name, timestamps))
        return out[0] if single else out

    def align(self, audio, sample_rate: int | None = None, *, phones=None, text=None, lexicon=None,
              batch_size: int = 16) -> Transcript | list[Transcript]:
        """Forced alignment: the given phones, or the words of `text` through a lexicon, placed in time.

        `audio` as for `transcribe`. `phones`: a list of phone symbols (61, 48 or 39 set; folded to the
        model's) or a phones file (.PHN, one per line or space-separated); `text`: the words as a string
        or a text file (.TXT, .WRD, plain); `lexicon`: a file (TIMITDIC.TXT or CMUdict format), a
        {word: phones} dict, or None (the TIMIT tree's DOC/TIMITDIC.TXT beside an audio path, else
        CMUdict). For a list of audio, `phones` or `text` is a list of the same length. Returns the
        Transcript `phonerec align` writes: phones, segments, confidence and, for a text, words.
        Each recording is aligned alone; `phonerec.corpus_alignment.align_corpus` aligns many together, refined
        on themselves (what `phonerec align` does with a corpus).
        """
        single, items, targets = self._align_inputs(audio, phones, text, lexicon)
        out = self._batched(items, sample_rate, batch_size, lambda k, lp, frames, wave, name:
                            aligned_transcript(self._t, lp, frames, len(wave), name, targets[k]))
        return out[0] if single else out

    def _align_inputs(self, audio, phones, text, lexicon) -> tuple[bool, list, list]:
        """(one input?, the inputs as a list, the alignment Target of each) of `align`'s arguments."""
        if (phones is None) == (text is None):
            raise ValueError("give phones= or text=, one of them")
        single = _one_input(audio)
        items = [audio] if single else list(audio)
        given = phones if text is None else text
        given = [given] if single else list(given)
        if len(given) != len(items):
            raise ValueError(f"{len(items)} audio input(s) but {len(given)} {'phones' if text is None else 'texts'}")
        targets = [alignment_target(self._t, Path(x) if isinstance(x, (str, Path)) else None,
                                    None if text is not None else g, g if text is not None else None, lexicon)
                   for x, g in zip(items, given)]
        return single, items, targets

    def _batched(self, items: list, sample_rate, batch_size: int, finish) -> list[Transcript]:
        """`finish(k, ctc posteriors, frame posteriors, waveform, name)` of each item, the network run
        over padded batches of similar length."""
        waves = [self._wave(x, sample_rate, k) for k, x in enumerate(items)]
        order = sorted(range(len(waves)), key=lambda k: len(waves[k][0]))  # similar lengths pad little
        out: list = [None] * len(waves)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for k, (lp, frames) in zip(chunk, self._t.posteriors_batch([waves[k][0] for k in chunk])):
                wave, name, warnings = waves[k]
                out[k] = finish(k, lp, frames, wave, name)
                out[k].warnings = warnings
        return out

    def _wave(self, x, sample_rate, index: int) -> tuple[torch.Tensor, str, list[str]]:
        """(mono waveform at the model's rate, name, its warnings) of a path or an array."""
        if isinstance(x, (str, Path)):
            wave, warnings = self._t.read(x)
            return wave, str(x), warnings
        name = f"<waveform {index}>"
        if sample_rate is None:
            raise TranscribeError(f"{name}: a waveform needs its sample_rate")
        wave = torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x, dtype=torch.float32)
        if wave.dim() == 2:
            wave = wave.mean(_channel_axis(tuple(wave.shape), name))  # down-mix
        if wave.dim() != 1:
            raise TranscribeError(f"{name}: expected (samples,), (channels, samples) or (samples, channels), "
                                  f"got shape {tuple(wave.shape)}")
        if sample_rate != self.sample_rate:
            wave = dsp.resample(wave, sample_rate, self.sample_rate)
        check_samples(wave, self.sample_rate, name)
        return wave, name, self._t.warn_if_unusual(wave, sample_rate, name)
