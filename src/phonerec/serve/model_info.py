"""What the page says about the model: its name, what it was trained on and its measured figures.

From the model's card when it has one (card.json beside model.pt), else from what model.pt itself
records (architecture, phone set, which epoch, decoding) and the PER files its experiment folder holds
(decode_<split>/per.json). A card is plain JSON, every key optional:

    {"name": "phonerec English (speechocean762)", "trained_on": "speechocean762 train, 2500 utterances ...",
     "figures": {"test PER (sil_merged)": "37.83 %", ...}, "description": "...", "licence": "CC BY 4.0"}
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from phonerec.inference.bundled import bundled_model_path  # noqa: F401  (the default model of serve)
from phonerec.inference.model import model_file

log = logging.getLogger(__name__)

CARD_FILE = "card.json"
CARD_TEXT_KEYS = ("name", "description", "trained_on", "licence", "url")


def describe_model(model, phones: list[str], sample_rate: int) -> dict:
    """{name, file, description, trained_on, figures: [[label, value]], details: [[label, value]],
    phones, sample_rate, card} for GET /api/model. `phones` and `sample_rate` come from the loaded
    Recognizer; the rest from the card, else model.pt and the PER files beside it."""
    path = model_file(model)
    name = path.parent.name if path.name == "model.pt" else path.stem
    info = {"name": name, "file": str(path), "description": "", "trained_on": "", "figures": [],
            "details": [], "phones": list(phones), "sample_rate": sample_rate, "card": False}
    card = read_card(path.parent / CARD_FILE)
    stored = _stored(path)
    info["details"] = _details(stored, len(phones))
    if card:
        info["card"] = True
        info.update({k: str(card[k]) for k in CARD_TEXT_KEYS if card.get(k)})
        figures = card.get("figures") or {}
        info["figures"] = [[str(k), str(v)] for k, v in (figures.items() if isinstance(figures, dict) else [])]
    else:
        info["trained_on"] = recorded_training(stored.get("trained_on"))
        info["figures"] = measured_figures(path.parent)
    return info


def read_card(path: Path) -> dict | None:
    """The card's dict, or None when there is none (an unreadable card is logged, not fatal)."""
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable model card, ignored (%s)", path, e)
        return None
    if not isinstance(card, dict):
        log.warning("%s: a model card is a JSON object; ignored", path)
        return None
    return card


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


def _stored(path: Path) -> dict:
    """model.pt's plain entries (config, source, decoding, trained_on), its weights only counted; {} if unreadable
    (the Recognizer has loaded it already, so this only costs a description)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - a description must not stop the server
        log.warning("%s: cannot read its settings for the page (%s)", path, e)
        return {}
    weights = state.get("model") or {}
    n_params = sum(t.numel() for t in weights.values() if torch.is_tensor(t))
    return {"config": state.get("config") or {}, "source": state.get("source"), "decoding": state.get("decoding"),
            "trained_on": state.get("trained_on"), "n_params": n_params}


def _details(stored: dict, n_phones: int) -> list[list[str]]:
    """What model.pt says, as [label, value] rows."""
    rows = []
    model = stored.get("config", {}).get("model") or {}
    if model.get("name"):
        settings = model.get(model["name"]) or {}
        rows.append(["architecture", f"{model['name']} ({', '.join(f'{k} {v}' for k, v in settings.items())})"])
    if stored.get("n_params"):
        rows.append(["parameters", f"{stored['n_params']:,} ({stored['n_params'] / 1e6:.2f} M)"])
    rows.append(["phone set", f"{n_phones} phones"])
    if stored.get("source"):
        rows.append(["weights", str(stored["source"])])
    decode = (stored.get("decoding") or {}).get("decode") or stored.get("config", {}).get("decode") or {}
    if decode.get("method"):
        tuned = " (tuned on dev)" if stored.get("decoding") else ""
        extra = f", beam {decode.get('beam')}, LM weight {decode.get('lm_weight')}" if decode["method"] == "beam" else ""
        rows.append(["decoding", f"{decode['method']}{extra}{tuned}"])
    return rows
