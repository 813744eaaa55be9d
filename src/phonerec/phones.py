"""TIMIT phone sets (61 / 48 / 39), folding between them, and the CTC tokenizer.

The mapping is Lee & Hon (1989), read from the packaged `phones.60-48-39.map`
(the same file every TIMIT recipe uses). `q` (glottal stop) has no 48/39 target:
folding deletes it. Consecutive `sil` after folding to 39 are merged, as the
published PERs do.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

BLANK = "<blank>"


@lru_cache(maxsize=None)
def _phone_map() -> tuple[tuple[str, str | None, str | None], ...]:
    rows = []
    text = resources.files("phonerec").joinpath("resources/phones.60-48-39.map").read_text()
    for line in text.splitlines():
        cols = line.split()
        if not cols:
            continue
        if len(cols) == 1:
            rows.append((cols[0], None, None))  # q: deleted when folding
        else:
            rows.append((cols[0], cols[1], cols[2]))
    return tuple(rows)


PHONES_61: tuple[str, ...] = tuple(r[0] for r in _phone_map())
FOLD_48: dict[str, str | None] = {r[0]: r[1] for r in _phone_map()}
FOLD_39: dict[str, str | None] = {r[0]: r[2] for r in _phone_map()}
PHONES_48: tuple[str, ...] = tuple(sorted({v for v in FOLD_48.values() if v}))
PHONES_39: tuple[str, ...] = tuple(sorted({v for v in FOLD_39.values() if v}))
# Every 48-phone symbol folds to exactly one 39-phone symbol (the map is a tree).
FOLD_48_TO_39: dict[str, str] = {r[1]: r[2] for r in _phone_map() if r[1]}

PHONE_SETS = {61: PHONES_61, 48: PHONES_48, 39: PHONES_39}


def fold(phones: list[str], target: int) -> list[str]:
    """Fold a phone sequence (61, 48 or 39 symbols) to the `target` set (61, 48 or 39).

    `q` is dropped; for the 39 set, runs of `sil` are merged into one (fold_positions: the one rule).
    Raises ValueError on a symbol that is not a TIMIT phone.
    """
    return [q for _, q in fold_positions(phones, target)]


def fold_positions(phones: list[str], target: int) -> list[tuple[int, str]]:
    """(position in `phones`, folded symbol) of each symbol `fold` gives: the one folding rule, for
    callers that must know which input phone each output came from (a word's phones, a label's time)."""
    if target not in PHONE_SETS:
        raise ValueError(f"unknown phone set {target}; use 61, 48 or 39")
    out: list[tuple[int, str]] = []
    for i, p in enumerate(phones):
        if p in FOLD_48:  # a 61-phone symbol
            q = p if target == 61 else FOLD_48[p] if target == 48 else FOLD_39[p]
        elif p in FOLD_48_TO_39 and target != 61:  # already a 48-phone symbol
            q = p if target == 48 else FOLD_48_TO_39[p]
        elif p in PHONES_39 and target == 39:
            q = p
        else:
            raise ValueError(f"unknown phone {p!r} for folding to {target}")
        if q is None:
            continue
        if target == 39 and q == "sil" and out and out[-1][1] == "sil":
            continue
        out.append((i, q))
    return out


PAUSE = "pau"  # TIMIT's pause label (48 and 39 phones: sil)


def with_pause_slots(phones: list[str], word: list, n_phones: int, pause: str = PAUSE) -> tuple[list[str], list, list[int]]:
    """(`phones` with a `pause` slot between every two words, each one's word (None for a slot), the
    slots' positions): where an aligner may put a pause the transcript does not show. `word` is each
    phone's word (None: none, e.g. a silence); no slot next to a phone that folds to the set's silence
    (a closure in the 39 set), as the pause would merge with it."""
    silence = fold([PAUSE], n_phones)
    out, out_word, slots = [], [], []
    for k, (p, w) in enumerate(zip(phones, word)):
        if (k and w is not None and word[k - 1] is not None and w != word[k - 1]
                and silence not in (fold([p], n_phones), fold([phones[k - 1]], n_phones))):
            slots.append(len(out))
            out.append(pause)
            out_word.append(None)
        out.append(p)
        out_word.append(w)
    return out, out_word, slots


# A flap has no 39-phone partner to stand in for it (stand_ins); the nearest sound is the voiced stop.
NEAREST = {"dx": "d"}


def stand_ins(counts: dict[str, int]) -> dict[str, str]:
    """{phone: stand-in} for the phones of a set that the training labels never had (count 0 in
    `counts`, {phone: tokens}): a corpus transcribed without TIMIT's allophones (speechocean762 has no
    ax, ix, dx, el, en, epi) trains no posterior for them, so forced alignment of a TIMIT phone sequence
    scores each with the trained phone it folds to in the 39-phone set (ax -> ah, el -> l, epi -> the
    commonest trained silence), else NEAREST's. A phone with no trained partner keeps its own scores."""
    trained = {p for p, n in counts.items() if n > 0}
    out = {}
    for p in sorted(set(counts) - trained):
        partners = [q for q in trained if FOLD_48_TO_39.get(q, q) == FOLD_48_TO_39.get(p, p)]
        if partners:
            out[p] = max(partners, key=lambda q: (counts[q], q))
        elif NEAREST.get(p) in trained:
            out[p] = NEAREST[p]
    return out


class PhoneTokenizer:
    """Maps phone symbols to CTC class ids; id 0 is the blank. `stand_ins` ({phone: phone}, see
    stand_ins()): the classes forced alignment scores in place of phones the model never learned."""

    def __init__(self, phones: list[str] | tuple[str, ...], stand_ins: dict[str, str] | None = None):
        self.phones = list(phones)
        self.symbols = [BLANK] + self.phones
        self._ids = {p: i for i, p in enumerate(self.symbols)}
        self.stand_ins = dict(stand_ins or {})

    @classmethod
    def for_set(cls, n: int) -> "PhoneTokenizer":
        return cls(PHONE_SETS[n])

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, phones: list[str]) -> list[int]:
        try:
            return [self._ids[p] for p in phones]
        except KeyError as e:
            raise ValueError(f"phone {e.args[0]!r} not in the tokenizer's set") from None

    def align_ids(self, phones: list[str]) -> list[int]:
        """encode() for forced alignment: a phone the model never learned is scored as its stand-in."""
        return self.encode([self.stand_ins.get(p, p) for p in phones])

    def decode(self, ids) -> list[str]:
        return [self.symbols[int(i)] for i in ids if int(i) != 0]
