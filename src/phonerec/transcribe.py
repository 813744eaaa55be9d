"""Transcribe audio files with a trained model: phones, and optionally a time span per phone.

Timestamps come from forced alignment of the decoded phones on the model's own posteriors
(decoding.align): on the frame head's 10 ms posteriors when the model has one (trained with
train.frame_weight > 0), else on the CTC posteriors. The segments tile the whole file, as a
TIMIT .phn file does, and are monotonic.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from phonerec.config import DecodeConfig
from phonerec.decoding.align import ctc_segments, frame_head_segments, viterbi_spans
from phonerec.decoding.ctc import align
from phonerec.decoding.lm import LMError
from phonerec.decoding.search import check_decode_config, load_lm_matrix, resolve_decode_config, search
from phonerec.experiment.decode import carried_decoding
from phonerec.experiment.train import load_model, model_file
from phonerec.features.audio import AudioError, load_audio
from phonerec.features.fbank import Fbank, normalize, recenter
from phonerec.features.levels import FIX_NATS, level_offset, level_problem, signal_problems
from phonerec.textgrid import format_phn, format_textgrid

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".sph", ".nist", ".ogg", ".mp3", ".aif", ".aiff")
LIST_SUFFIXES = (".txt", ".lst", ".list", ".scp")
FORMATS = ("text", "json", "phn", "textgrid")
EXTENSIONS = {"text": ".txt", "json": ".json", "phn": ".phn", "textgrid": ".TextGrid"}
MIN_SECONDS = 0.05  # five 10 ms frames: shorter input has no phone to find
# Longer inputs go through the network in pieces of at most 30 s (10 ms frames): a CRDNN's
# activations over a 10-minute file alone take GBs. Each cut is at the quietest point of the
# piece's last 5 s, so it falls in a pause; training utterances are seconds long, so the
# network never needs more context than a piece.
CHUNK_FRAMES = 3000
PAUSE_WINDOW = 500
CONTEXT_FRAMES = 100  # a multiple of every model's subsampling


class TranscribeError(ValueError):
    """One input cannot be transcribed; the message is one line naming the file."""


@dataclass
class Transcript:
    path: str
    phones: list[str]
    duration: float  # seconds
    sample_rate: int
    segments: list[tuple[float, float, str]] | None = None  # (start, end, phone) in seconds
    confidence: list[float] = field(default_factory=list)  # per phone: max posterior over its frames
    words: list[tuple[float, float, str]] | None = None  # (start, end, word) in seconds (forced alignment)

    def to_dict(self) -> dict:
        """{file, duration, phones[, segments: [{phone, start, end, confidence}]][, words: [{word, start,
        end}]]} (JSON-ready)."""
        d = {"file": self.path, "duration": round(self.duration, 4), "phones": self.phones}
        if self.segments is not None:
            d["segments"] = [{"phone": p, "start": round(s, 4), "end": round(e, 4), "confidence": c}
                             for (s, e, p), c in zip(self.segments, self.confidence or [None] * len(self.segments))]
        if self.words is not None:
            d["words"] = [{"word": w, "start": round(s, 4), "end": round(e, 4)} for s, e, w in self.words]
        return d

    def to_textgrid(self) -> str:
        """Praat TextGrid with a `phones` tier, under a `words` tier when words are known (needs timestamps)."""
        phones = self._needs_segments("textgrid")
        tiers = {"phones": phones} if self.words is None else {"words": self.words, "phones": phones}
        return format_textgrid(tiers, self.duration)

    def to_phn(self) -> str:
        """TIMIT .phn lines (start and end in 16 kHz samples; needs timestamps)."""
        return format_phn(self._needs_segments("phn"), 16000)

    def _needs_segments(self, fmt: str) -> list:
        if self.segments is None:
            raise ValueError(f"format {fmt!r} needs timestamps")
        return self.segments


class Transcriber:
    """A loaded model plus its feature pipeline and decoder settings."""

    def __init__(self, model, device=None, decode: DecodeConfig | None = None, *, decode_config=None,
                 overrides: dict | None = None, lm_matrix=None, fix_level: bool = False):
        """`model`: experiment folder or model file. Decoding: `decode`, or the model's own decode
        config <- `decode_config` file <- `overrides`; an LM weight loads the experiment's bigram LM.
        `fix_level`: scale a recording whose level is far from the training corpus's back to it."""
        self.fix_level = fix_level
        self.model, self.cfg, self.tokenizer, self.cmvn = load_model(model, device or "cpu")
        self.device = next(self.model.parameters()).device
        carried, carried_lm = carried_decoding(model)  # what decode.py --tune chose for this model, if it ran
        self.decode = check_decode_config(decode or resolve_decode_config(carried or self.cfg.decode, decode_config,
                                                                          **(overrides or {})))
        if self.decode.method == "beam" and self.decode.lm_weight and lm_matrix is None:
            if carried_lm is not None:
                lm_matrix = carried_lm.matrix(self.tokenizer.symbols)
            else:
                try:
                    lm_matrix = load_lm_matrix(model_file(model).parent, self.tokenizer)
                except LMError as e:
                    raise LMError(f"{e} (decode.py --method beam with --lm-weight or --tune estimates it)") from None
        self.lm_matrix = lm_matrix
        self.fbank = Fbank(self.cfg.features)
        self.sample_rate = self.cfg.features.sample_rate
        self.frame_s = self.model.subsampling * self.cfg.features.hop_ms / 1000
        self.hop_s = self.cfg.features.hop_ms / 1000
        self.frame_head = bool(getattr(self.model, "has_frame_head", False))

    def posteriors(self, wave: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """A mono waveform at the model's rate -> ((T', C) CTC log posteriors, the frame head's
        (T, C) 10 ms log posteriors or None without a head)."""
        return self.posteriors_batch([wave])[0]

    def posteriors_batch(self, waves: list[torch.Tensor]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """One padded forward pass over several mono waveforms -> `posteriors` of each. A waveform
        longer than CHUNK_FRAMES (a lecture) goes through the network in pieces cut at pauses."""
        feats = [self.fbank(self.leveled(w) if self.fix_level else w) for w in waves]  # each (T_i, F) log-mel
        if self.cfg.features.cmvn == "utterance":  # the whole recording's mean, before any cut into pieces
            feats = [recenter(f, [len(f)], torch.tensor(self.cmvn["mean"])) for f in feats]
        if any(len(f) > CHUNK_FRAMES for f in feats):
            return [self._long_posteriors(f) if len(f) > CHUNK_FRAMES else self._forward([f])[0] for f in feats]
        return self._forward(feats)

    def _long_posteriors(self, feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Posteriors of a long input, the network run on one piece at a time (bounded memory: the
        convolutions' activations grow with the input), concatenated. The pieces end at pauses
        (pause_cuts) and each is run with CONTEXT_FRAMES of its neighbours either side, dropped
        after: a piece's edge is then not padding, which the network would read as sound."""
        sub, n, lps, frames = self.model.subsampling, len(feats), [], []
        for a, b in pause_cuts(feats, sub):
            a0, b0 = max(0, a - CONTEXT_FRAMES), min(n, b + CONTEXT_FRAMES)  # a, a0: multiples of sub
            lp, fr = self._forward([feats[a0:b0]])[0]
            lps.append(lp[(a - a0) // sub:None if b == n else (b - a0) // sub])
            frames.append(None if fr is None else fr[a - a0:b - a0])
        return np.concatenate(lps), None if frames[0] is None else np.concatenate(frames)

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
        path = Path(path)
        if not path.exists():
            raise TranscribeError(f"{path}: no such file")
        if path.is_file() and path.stat().st_size == 0:
            raise TranscribeError(f"{path}: empty file")
        try:
            wave = load_audio(path, self.sample_rate)
        except AudioError as e:
            raise TranscribeError(str(e)) from None
        if not torch.isfinite(wave).all():
            raise TranscribeError(f"{path}: audio contains NaN or infinite samples")
        if len(wave) < MIN_SECONDS * self.sample_rate:
            raise TranscribeError(f"{path}: too short ({len(wave) / self.sample_rate:.3f} s; "
                                  f"at least {MIN_SECONDS:.3f} s needed)")
        self.warn_if_unusual(wave, sf.info(str(path)).samplerate, str(path))
        return wave

    def recording_problems(self, wave: torch.Tensor, source_rate: int) -> list[str]:
        """Why this recording may be decoded badly: silent, clipped, band-limited, or far from the
        training corpus's level (features.levels); [] for an ordinary one."""
        problems = signal_problems(wave, self.sample_rate, source_rate)
        if problems[:1] and problems[0].startswith("is digital silence"):
            return problems
        return problems + level_problem(level_offset(self.fbank(wave), self.cmvn["mean"]))

    def leveled(self, wave: torch.Tensor) -> torch.Tensor:
        """`wave` scaled to the training corpus's mean level when it is beyond FIX_NATS from it (a gain
        g shifts every log-mel bin by 2 ln g, except where the log floor flattens a quiet bin, so the
        gain is refined a few times); an ordinary recording is returned as it is."""
        offset = level_offset(self.fbank(wave), self.cmvn["mean"])
        if offset is None or abs(offset) <= FIX_NATS:
            return wave
        gain = 1.0
        for _ in range(4):
            gain *= math.exp(-offset / 2)
            offset = level_offset(self.fbank(wave * gain), self.cmvn["mean"])
            if abs(offset) < 0.1:
                break
        return wave * gain

    def warn_if_unusual(self, wave: torch.Tensor, source_rate: int, name: str) -> None:
        for problem in self.recording_problems(wave, source_rate):
            log.warning("%s %s", name, problem)

    def transcribe(self, path, timestamps: bool = False) -> Transcript:
        return self.transcribe_wave(self.load(path), str(path), timestamps)

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
        """(segments, confidence per phone): Viterbi on the frame head's 10 ms posteriors when the model
        has one, else CTC forced alignment; confidence = the phone's highest posterior over its frames.
        `optional`: positions the frame-head Viterbi may skip (viterbi_spans), their segments then
        empty (start == end) with confidence 0; the CTC path has no optional tokens."""
        if frames is not None:
            post, spans = frames, viterbi_spans(frames, ids, optional=optional)
            segments = frame_head_segments(spans, phones, self.hop_s, duration)
        elif optional:
            raise ValueError("optional phones need a frame head")
        else:
            post, spans = lp, align(lp, ids)
            segments = ctc_segments(spans, phones, self.frame_s, duration)
        return segments, [round(float(math.exp(post[s:e, i].max())), 4) if e > s else 0.0
                          for (s, e), i in zip(spans, ids)]


def pause_cuts(feats: torch.Tensor, multiple: int, limit: int | None = None,
               window: int | None = None) -> list[tuple[int, int]]:
    """[start, end) frame pieces of (T, F) log-mel features, each at most `limit` frames, the cut
    of each at the quietest frame (mean log-mel, smoothed over 10 frames) of its last `window`
    frames, rounded down to a multiple of `multiple` (the model's subsampling) so that the pieces'
    output frames add up to the whole input's."""
    limit, window = limit or CHUNK_FRAMES, window or PAUSE_WINDOW
    energy = torch.nn.functional.avg_pool1d(feats.float().mean(1)[None, None], 11, 1, 5, count_include_pad=False)[0, 0]
    cuts, start, n = [], 0, len(feats)
    while n - start > limit:
        lo = start + limit - window
        cut = lo + int(energy[lo:start + limit].argmin())
        cut = max(start + multiple, cut // multiple * multiple)
        cuts.append((start, cut))
        start = cut
    return cuts + [(start, n)]


def expand_inputs(items: list) -> tuple[list[tuple[Path, str]], list[str]]:
    """Files, folders (searched recursively for audio) and list files (one path, or `utt_id path`,
    per line; '#' comments; relative paths are relative to the list) -> ([(audio path, output
    name)], problems). A file found in a folder is named by its path inside that folder (so
    `--out` mirrors TIMIT's speaker folders), any other file by its name, extensions dropped."""
    found, problems = [], []
    for item in map(Path, items):
        if item.is_dir():
            files = sorted(f for f in item.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                problems.append(f"{item}: folder holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
            found += [(f, str(f.relative_to(item).parent / output_stem(f))) for f in files]
        elif item.suffix.lower() in LIST_SUFFIXES and item.is_file():
            for line in item.read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    p = Path(line)
                    if not p.exists() and len(line.split()) > 1:  # Kaldi-style `utt_id path`
                        p = Path(line.split()[-1])
                    p = p if p.is_absolute() or p.exists() else item.parent / p
                    found.append((p, output_stem(p)))
        else:
            found.append((item, output_stem(item)))  # a missing or unreadable file is reported when transcribed
    return found, problems


def output_stem(path: Path) -> str:
    """Output name of an audio file: its name up to the first dot (SA1.WAV.wav -> SA1)."""
    return path.name.split(".")[0] or "audio"


def format_transcript(t: Transcript, fmt: str) -> str:
    """Render one transcript: text (`path: phones`, or a `start end phone` line per phone with
    timestamps), json, phn (TIMIT sample units) or textgrid (Praat). phn/textgrid need segments."""
    if fmt == "text":
        if t.segments is None:
            return f"{t.path}: {' '.join(t.phones)}\n"
        return f"{t.path}:\n" + "".join(f"{s:8.3f} {e:8.3f}  {p}\n" for s, e, p in t.segments)
    if fmt == "json":
        return json.dumps(t.to_dict()) + "\n"
    if fmt == "phn":
        return t.to_phn()
    if fmt == "textgrid":
        return t.to_textgrid()
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def output_path(out_dir, name: str, fmt: str, taken: set) -> Path:
    """`out_dir/<name><ext>`; a second input with the same name gets `<name>-2` (never overwrites)."""
    base, n = name, 1
    while name.lower() in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name.lower())
    return Path(out_dir) / (name + EXTENSIONS[fmt])


def file_failure(path, error: Exception) -> str:
    """The one-line `error: ...` a command prints for one input that failed, so a batch of files goes on.
    A TranscribeError already names the file; anything else (CUDA out of memory, a bug) gets the path and
    its type, and its traceback goes to the debug log."""
    if isinstance(error, TranscribeError):
        return f"error: {error}"
    log.debug("%s failed", path, exc_info=error)
    return f"error: {path}: {type(error).__name__}: {error}"
