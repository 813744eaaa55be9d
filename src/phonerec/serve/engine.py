"""One upload -> one Transcript, under the server's limits, with errors as sentences.

The model runs one request at a time (a lock): on a CPU the network already uses every core, so
parallel requests would only be slower each, and one long recording at a time keeps memory bounded
(transcribe.py cuts long audio into 30 s pieces). The audio is written to a private temporary
folder under a name of our own (the upload's name is only shown, never used as a path) and removed
as soon as the answer is made, so the same code reads it as `phonerec transcribe` does.
"""
from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

# The Recognizer logs what is unusual about a recording (clipped, quiet, silent) as warnings of a
# phonerec logger: the page shows those of its request.
LIBRARY_LOGGER = "phonerec"
SILENCE = "is digital silence"  # the warning that makes a recording unusable here
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


class _Warnings(logging.Handler):
    """Collects the library's warnings of the thread that is transcribing (one at a time)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread, self.messages = None, []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


class Engine:
    """A Recognizer behind a lock, a private temporary folder and the limits."""

    def __init__(self, recognizer, limits: Limits | None = None, lexicon=None, lexicon_name: str = ""):
        """`lexicon`, `lexicon_name`: what resolve_lexicon gives, passed to Recognizer.align for a text
        (never looked for beside the upload, which is in a temporary folder)."""
        self.recognizer, self.limits = recognizer, limits or Limits()
        self.lexicon, self.lexicon_name = lexicon, lexicon_name
        self._lock = threading.Lock()
        self._tmp = Path(tempfile.mkdtemp(prefix="phonerec-serve-"))  # mode 0700: this user only
        self._warnings = _Warnings()
        logging.getLogger(LIBRARY_LOGGER).addHandler(self._warnings)

    @property
    def upload_dir(self) -> Path:
        """The private folder uploads are in while they are transcribed (empty between requests)."""
        return self._tmp

    def close(self) -> None:
        logging.getLogger(LIBRARY_LOGGER).removeHandler(self._warnings)
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

    def transcribe(self, path: Path, name: str, text: str | None = None) -> tuple[Transcript, list[str]]:
        """(Transcript, warnings) of the audio at `path` (deleted here, whatever happens): recognition,
        or with `text` forced alignment of its words. ServeError for a bad input."""
        try:
            self.check_duration(path, name)
            if text is not None and len(text) > self.limits.max_text_chars:
                raise ServeError(413, f"the text has {len(text)} characters; at most {self.limits.max_text_chars}")
            with self._lock:
                self._warnings.thread, self._warnings.messages = threading.get_ident(), []
                try:
                    t = self._run(path, text)
                except TranscribeError as e:
                    raise ServeError(422, self._sentence(str(e), path, name)) from None
                finally:
                    self._warnings.thread = None
                warnings = [self._sentence(m, path, name) for m in self._warnings.messages]
        finally:
            path.unlink(missing_ok=True)
        silent = [w for w in warnings if SILENCE in w]
        if silent:
            raise ServeError(422, silent[0])
        t.path = name
        return t, warnings

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
