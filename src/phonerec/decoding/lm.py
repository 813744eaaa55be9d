"""Phone bigram language model for the CTC beam search, estimated from the training manifest.

The LM is over the model's own output phones (the 61 raw labels folded to the tokenizer's
set), with sentence start <s> and end </s>, so every probability it gives is one the
decoder can use. Smoothing is interpolated Witten-Bell (default) or add-k; both give a
proper distribution over the phones + </s> for every history, seen or not.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Iterable

import numpy as np

from phonerec.fileio import write_json
from phonerec.phones import PHONE_SETS, fold

log = logging.getLogger(__name__)

BOS, EOS = "<s>", "</s>"
SMOOTHING = ("witten_bell", "add_k")


class LMError(ValueError):
    """An LM file is unreadable or does not fit the model's phone set."""


class BigramLM:
    """log P(next | previous) as a matrix: row 0 is the history <s>, row i the phone
    phones[i-1]; column 0 is </s>, column i the phone phones[i-1]. Same layout as the
    tokenizer's ids (0 = blank), so `matrix` is a reindexing at most."""

    def __init__(self, phones: list[str], logprob: np.ndarray, smoothing: str, info: dict | None = None):
        self.phones = list(phones)
        self.logprob = np.asarray(logprob, dtype=np.float64)
        n = len(self.phones) + 1
        if self.logprob.shape != (n, n):
            raise LMError(f"bigram matrix has shape {self.logprob.shape}, expected {(n, n)} for {n - 1} phones")
        self.smoothing = smoothing
        self.info = dict(info or {})
        self._index = {p: i + 1 for i, p in enumerate(self.phones)}

    @classmethod
    def estimate(cls, sentences: Iterable[list[str]], phones: list[str], smoothing: str = "witten_bell",
                 k: float = 0.1) -> "BigramLM":
        """Count bigrams over <s> phones </s> and smooth. Unknown phones are an error (wrong set)."""
        if smoothing not in SMOOTHING:
            raise ValueError(f"unknown smoothing {smoothing!r}; use one of {', '.join(SMOOTHING)}")
        index = {p: i + 1 for i, p in enumerate(phones)}
        n = len(phones) + 1
        counts = np.zeros((n, n))
        n_sent = 0
        for sent in sentences:
            try:
                ids = [0] + [index[p] for p in sent] + [0]  # <s> ... </s> (both id 0)
            except KeyError as e:
                raise ValueError(f"phone {e.args[0]!r} is not in the LM's phone set") from None
            np.add.at(counts, (ids[:-1], ids[1:]), 1)
            n_sent += 1
        if n_sent == 0:
            raise ValueError("no sentences to estimate the LM from")
        if smoothing == "add_k":
            probs = (counts + k) / (counts.sum(1, keepdims=True) + k * n)
        else:
            # Interpolated Witten-Bell, backing off to an add-one unigram over phones + </s>.
            uni = (counts.sum(0) + 1) / (counts.sum() + n)
            c_h = counts.sum(1, keepdims=True)
            types = (counts > 0).sum(1, keepdims=True)
            probs = np.where(c_h > 0, (counts + types * uni) / np.maximum(c_h + types, 1), uni)
        info = {"n_sentences": n_sent, "n_tokens": int(counts.sum()) - n_sent, "k": k if smoothing == "add_k" else None}
        return cls(phones, np.log(probs), smoothing, info)

    @classmethod
    def from_manifest(cls, path, phones: list[str], smoothing: str = "witten_bell", k: float = 0.1) -> "BigramLM":
        """Estimate from a manifest's raw 61-phone `phn` strings, folded to `phones`' set."""
        phone_set = len(phones)
        if phone_set not in PHONE_SETS:
            raise ValueError(f"cannot fold TIMIT labels to a set of {phone_set} phones")
        sentences = [fold(r["phn"].split(), phone_set) for r in json.loads(Path(path).read_text()).values()]
        lm = cls.estimate(sentences, phones, smoothing, k)
        lm.info["source"] = str(path)
        lm.info["source_sha256"] = file_sha256(path)
        lm.info["train_perplexity"] = round(lm.perplexity(sentences), 3)
        log.info("bigram LM (%s) from %s: %d sentences, %d phones, train perplexity %.2f", smoothing, path,
                 lm.info["n_sentences"], lm.info["n_tokens"], lm.info["train_perplexity"])
        return lm

    def prob(self, phone: str, history: str = BOS) -> float:
        """P(phone | history); phone may be </s>, history may be <s>."""
        h = 0 if history == BOS else self._index[history]
        w = 0 if phone == EOS else self._index[phone]
        return float(math.exp(self.logprob[h, w]))

    def perplexity(self, sentences: Iterable[list[str]]) -> float:
        total, n = 0.0, 0
        for sent in sentences:
            ids = [0] + [self._index[p] for p in sent] + [0]
            total += float(self.logprob[ids[:-1], ids[1:]].sum())
            n += len(ids) - 1
        return math.exp(-total / max(n, 1))

    def matrix(self, symbols: list[str]) -> np.ndarray:
        """(C, C) log probs in a tokenizer's id order (`tokenizer.symbols`, blank first)."""
        if sorted(symbols[1:]) != sorted(self.phones):
            raise LMError(f"LM phones ({len(self.phones)}) differ from the model's ({len(symbols) - 1}); "
                          "delete the LM file to re-estimate it")
        order = [0] + [self._index[p] for p in symbols[1:]]
        return self.logprob[np.ix_(order, order)].astype(np.float32)

    def to_dict(self) -> dict:
        """Plain data (lists, numbers, strings): what lm_bigram.json and a model file carry."""
        return {"type": "bigram", "smoothing": self.smoothing, "phones": self.phones, **self.info,
                "rows": [BOS] + self.phones, "columns": [EOS] + self.phones,
                "logprob": [[round(float(x), 6) for x in row] for row in self.logprob]}

    @classmethod
    def from_dict(cls, d: dict, where: str = "LM") -> "BigramLM":
        try:
            skip = ("type", "smoothing", "phones", "rows", "columns", "logprob")
            info = {k: v for k, v in d.items() if k not in skip}
            return cls(d["phones"], np.array(d["logprob"]), d["smoothing"], info)
        except (ValueError, KeyError, TypeError) as e:
            raise LMError(f"{where}: not a bigram LM ({e})") from None

    def save(self, path) -> None:
        write_json(path, self.to_dict(), indent=None)

    @classmethod
    def load(cls, path) -> "BigramLM":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise LMError(f"{path}: LM file not found") from None
        except ValueError as e:
            raise LMError(f"{path}: not a bigram LM file ({e})") from None
        return cls.from_dict(d, f"{path}")


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_or_estimate(path, train_manifest, phones: list[str]) -> BigramLM:
    """The LM at `path` if it was estimated from this very `train_manifest` (its SHA-256) over `phones`,
    else estimate it from `train_manifest` and save it there (e.g. after switching to another corpus)."""
    path, have_manifest = Path(path), Path(train_manifest).is_file()
    if path.is_file():
        lm = BigramLM.load(path)
        if sorted(lm.phones) != sorted(phones):
            log.warning("%s is over another phone set (%d phones): re-estimating", path, len(lm.phones))
        elif not have_manifest:
            log.warning("bigram LM: %s (%s is missing, so it cannot be checked against it)", path, train_manifest)
            return lm
        elif lm.info.get("source_sha256") != file_sha256(train_manifest):
            log.warning("%s was estimated from another training manifest than %s: re-estimating", path, train_manifest)
        else:
            log.info("bigram LM: %s", path)
            return lm
    if not have_manifest:
        raise LMError(f"{train_manifest}: training manifest not found; it is needed to estimate the LM")
    lm = BigramLM.from_manifest(train_manifest, phones)
    lm.save(path)
    log.info("wrote %s", path)
    return lm
