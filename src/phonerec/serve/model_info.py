"""What the page says about the model: its name, what it was trained on, its measured figures and how it
decodes.

All from what `Recognizer.load` read (Recognizer.description), so the model file is read once: the
model's card when it has one (card.json beside model.pt; the bundled model's card), else what model.pt
records (architecture, weights, training manifests) and the PER files its experiment folder holds
(decode_<split>/per.json); the decoding line is the resolver's, saying where each setting came from. A
card is plain JSON, every key optional:

    {"name": "phonerec English (speechocean762)", "trained_on": "speechocean762 train, 2500 utterances ...",
     "figures": {"test PER (sil_merged)": "37.83 %", ...}, "description": "...", "licence": "CC BY 4.0"}
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from phonerec.api import ModelDescription, Recognizer
from phonerec.inference.bundled import bundled_model_path  # noqa: F401  (the default model of serve)

log = logging.getLogger(__name__)

CARD_TEXT_KEYS = ("name", "description", "trained_on", "licence", "url")


def describe_model(recognizer: Recognizer) -> dict:
    """{name, file, description, trained_on, figures: [[label, value]], details: [[label, value]],
    phones, sample_rate, card} for GET /api/model, from the loaded Recognizer (its card, else model.pt's
    entries and the PER files beside it)."""
    about = recognizer.description
    path = about.path
    name = path.parent.name if path.name == "model.pt" else path.stem
    info = {"name": name, "file": str(path), "description": "", "trained_on": "", "figures": [],
            "details": _details(about, len(recognizer.phones)), "phones": list(recognizer.phones),
            "sample_rate": recognizer.sample_rate, "card": False}
    card = about.card
    if card:
        info["card"] = True
        info.update({k: str(card[k]) for k in CARD_TEXT_KEYS if card.get(k)})
        figures = card.get("figures") or {}
        info["figures"] = [[str(k), str(v)] for k, v in (figures.items() if isinstance(figures, dict) else [])]
    else:
        info["trained_on"] = recorded_training(about.info.get("trained_on"))
        info["figures"] = measured_figures(path.parent)
    return info


def recorded_training(trained_on) -> str:
    """What model.pt records of its training data ({split: {manifest, digest}}), as a line."""
    if isinstance(trained_on, dict):
        parts = [f"{split} {entry['manifest']}" for split, entry in trained_on.items()
                 if isinstance(entry, dict) and entry.get("manifest")]
        if parts:
            return "manifests " + ", ".join(parts) + " (what model.pt records; no card.json beside it)"
    return "not recorded: model.pt does not say, and there is no card.json beside it"


def measured_figures(exp_dir: Path) -> list[list[str]]:
    """[label, value] of each decode_<split>/per.json in the experiment folder (both PER conventions)."""
    figures = []
    for per_file in sorted(exp_dir.glob("decode_*/per.json")):
        split = per_file.parent.name[len("decode_"):]
        try:
            per = json.loads(per_file.read_text())
            figures.append([f"{split} PER ({per['convention']})",
                            f"{per['per']:.2f} % ({per['n_utts']} utterances)"])
            other = per.get("sil_optional")
            if isinstance(other, dict) and "per" in other:
                figures.append([f"{split} PER (sil_optional)", f"{other['per']:.2f} %"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("%s: unreadable, left out of the model's figures (%s)", per_file, e)
    return figures


def _details(about: ModelDescription, n_phones: int) -> list[list[str]]:
    """What model.pt says, and how the model decodes, as [label, value] rows."""
    rows = []
    model = (about.info.get("config") or {}).get("model") or {}
    if model.get("name"):
        settings = model.get(model["name"]) or {}
        rows.append(["architecture", f"{model['name']} ({', '.join(f'{k} {v}' for k, v in settings.items())})"])
    if about.n_params:
        rows.append(["parameters", f"{about.n_params:,} ({about.n_params / 1e6:.2f} M)"])
    rows.append(["phone set", f"{n_phones} phones"])
    if about.info.get("source"):
        rows.append(["weights", str(about.info["source"])])
    rows.append(["decoding", about.decoding])
    return rows
