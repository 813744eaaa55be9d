"""One upload -> one Transcript, under the server's limits, with errors as sentences.

The model runs one request at a time (a lock): on a CPU the network already uses every core, so
parallel requests would only be slower each, and one long recording at a time keeps memory bounded
(transcribe.py cuts long audio into 30 s pieces). The audio is written to a private temporary
folder under a name of our own (the upload's name is only shown, never used as a path) and removed
as soon as the answer is made, so the same code reads it as `phonerec transcribe` does.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from phonerec.corpora.lexicon import LexiconError, cmudict_lexicon
from phonerec.features.audio import AudioError, audio_info
from phonerec.transcribe import TranscribeError, Transcript

# A Transcript's warnings say what is unusual about its recording (clipped, quiet, silent: features.levels);
# the page lists them, except this one, which makes a recording unusable here
SILENCE = "is digital silence"
# An upload keeps its name's suffix when it is one of these (a reader that goes by the name sees it).
AUDIO_SUFFIXES = (".wav", ".flac", ".sph", ".nist", ".ogg", ".opus", ".mp3", ".aif", ".aiff")


@dataclass
class Limits:
    max_bytes: int = 200 * 2 ** 20  # one upload, multipart body included
    max_seconds: float = 20 * 60  # audio duration
    max_text_chars: int = 10_000  # the words to align


class ServeError(Exception):
    """A request the server answers with `status` and one sentence (`message`) for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def display_name(filename: str | None) -> str:
    """The upload's file name as the page shows it: its last path part, printable, at most 100 chars."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return (name or "upload")[:100]


class Engine:
    """A Recognizer behind a lock, a private temporary folder and the limits."""

    def __init__(self, recognizer, limits: Limits | None = None, lexicon=None, lexicon_name: str = ""):
        """`lexicon`, `lexicon_name`: what resolve_lexicon gives, passed to Recognizer.align for a text
        (never looked for beside the upload, which is in a temporary folder)."""
        self.recognizer, self.limits = recognizer, limits or Limits()
        self.lexicon, self.lexicon_name = lexicon, lexicon_name
        self._lock = threading.Lock()
        self._tmp = Path(tempfile.mkdtemp(prefix="phonerec-serve-"))  # mode 0700: this user only

    @property
    def upload_dir(self) -> Path:
        """The private folder uploads are in while they are transcribed (empty between requests)."""
        return self._tmp

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def new_upload_path(self, filename: str | None) -> Path:
        """A fresh path in the private folder; only a known audio suffix of `filename` is kept."""
        suffix = Path(display_name(filename)).suffix.lower()
        return self._tmp / f"upload-{uuid.uuid4().hex}{suffix if suffix in AUDIO_SUFFIXES else '.audio'}"

    def check_duration(self, path: Path, name: str) -> float:
        """The audio's duration from its header; ServeError 422 unreadable, 413 too long."""
        try:
            frames, rate = audio_info(path)
        except AudioError as e:
            raise ServeError(422, self._sentence(str(e), path, name)) from None
        seconds = frames / rate if rate else 0.0
        if seconds > self.limits.max_seconds:
            raise ServeError(413, f"{name} is {seconds:.1f} s long; this server takes recordings of at most "
                                  f"{self.limits.max_seconds:.0f} s (phonerec serve --max-seconds)")
        return seconds

    def transcribe(self, path: Path, name: str, text: str | None = None) -> Transcript:
        """The Transcript of the audio at `path` (deleted here, whatever happens), its warnings said about
        `name`: recognition, or with `text` forced alignment of its words. ServeError for a bad input."""
        try:
            self.check_duration(path, name)
            if text is not None and len(text) > self.limits.max_text_chars:
                raise ServeError(413, f"the text has {len(text)} characters; at most {self.limits.max_text_chars}")
            with self._lock:
                try:
                    t = self._run(path, text)
                except TranscribeError as e:
                    raise ServeError(422, self._sentence(str(e), path, name)) from None
        finally:
            path.unlink(missing_ok=True)
        t.path, t.warnings = name, [self._sentence(w, path, name) for w in t.warnings]
        silent = [w for w in t.warnings if SILENCE in w]
        if silent:
            raise ServeError(422, silent[0])
        return t

    def _run(self, path: Path, text: str | None) -> Transcript:
        if text is None:
            return self.recognizer.transcribe(str(path), timestamps=True)
        if not text.strip():
            raise ServeError(422, "the text has no words to align")
        if self.lexicon is None:
            raise ServeError(422, f"cannot align a text: {self.lexicon_name}")
        # the trailing newline makes the text always words, never read as the name of a file
        return self.recognizer.align(str(path), text=text.rstrip("\n") + "\n", lexicon=self.lexicon)

    def _sentence(self, message: str, path: Path, name: str) -> str:
        """A library message about our temporary file, said about the upload."""
        message = message.replace(str(path), name)
        if self.lexicon_name:
            message = message.replace("the lexicon the given lexicon", f"the lexicon ({self.lexicon_name})")
        return "the text: " + message[len("text: "):] if message.startswith("text: ") else message


def resolve_lexicon(lexicon_file=None) -> tuple[object, str]:
    """(lexicon for Recognizer.align, its name for messages): the file given, else CMUdict's words
    (loaded once here, not per request), else (None, why there is none)."""
    if lexicon_file is not None:
        return str(lexicon_file), ""
    try:
        return cmudict_lexicon()
    except LexiconError as e:
        return None, str(e)
