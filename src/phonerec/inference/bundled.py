"""The English model shipped inside the package: what `phonerec transcribe`, `align`, `serve` and
`Recognizer.load()` use when no model is named. Its card (card.json beside it) says what it was trained
on, with which command, and what it measured; the file's sha256 is in the card (tests check it)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from phonerec.training.checkpoint import CheckpointError

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "resources" / "english"
MODEL_NAME = "model.pt"
CARD_NAME = "card.json"


def bundled_model_path() -> Path | None:
    """The bundled model file, or None in a copy of phonerec that ships none."""
    path = BUNDLED_DIR / MODEL_NAME
    return path if path.is_file() else None


def bundled_card() -> dict | None:
    """The bundled model's card, or None."""
    path = BUNDLED_DIR / CARD_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_or_bundled(model):
    """`model` when one is named, else the bundled model; CheckpointError naming the option when there is none."""
    if model is not None:
        return model
    bundled = bundled_model_path()
    if bundled is None:
        raise CheckpointError("no model given and this copy of phonerec ships none: name one with --model EXP|model.pt")
    return bundled
