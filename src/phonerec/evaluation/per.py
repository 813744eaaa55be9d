"""Phone error rate on the 39-phone folded set (jiwer alignment), summary and per-utterance files,
and the sclite-style analysis behind it: per speaker, per phone, confusion pairs.

Two scoring conventions, from the same hypotheses (a PER without its convention is not a result):
- `sil_merged` (the default, SpeechBrain's): PER = (S + D + I) / N over the 39-phone folded
  reference, `q` deleted, silence scored as a label, consecutive `sil` merged into one.
- `sil_optional` (Kaldi s5's sclite scoring, where the reference `sil` is optional): the same
  folded sequences, aligned with sclite's weights (correct 0, insertion 3, deletion 3,
  substitution 4) except that leaving a reference `sil` unmatched costs 0. Such a deleted
  `sil` is neither an error nor counted in N; a reference `sil` matched by a hypothesis `sil`
  is correct and counted in N; a hypothesis `sil` with no reference `sil` is an insertion.
The corpus score and the analysis come from the same alignment, so their counts always agree.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jiwer

from phonerec.fileio import write_json, write_text
from phonerec.phones import PHONES_39, fold

DEFAULT_CONVENTION = "sil_merged"
CONVENTIONS = {
    "sil_merged": "39 phones (Lee & Hon 1989), q deleted, sil scored as a phone, consecutive sil merged "
                  "(SpeechBrain's TIMIT convention)",
    "sil_optional": "39 phones, q deleted, consecutive sil merged, reference sil optional as in Kaldi s5's "
                    "sclite scoring (a deleted sil is not an error and not in N; an inserted sil is an insertion)",
}
OPTIONAL = {"sil_merged": frozenset(), "sil_optional": frozenset({"sil"})}


@dataclass
class Score:
    per: float  # percent
    sub: int
    dels: int
    ins: int
    n_ref: int
    n_utts: int
    convention: str = DEFAULT_CONVENTION

    def as_dict(self) -> dict:
        d = asdict(self)
        d["del"] = d.pop("dels")
        return {k: d[k] for k in ("per", "sub", "del", "ins", "n_ref", "n_utts", "convention")}

    def line(self) -> str:
        """One line for a console or a log: the PER, its convention, the counts."""
        return (f"PER {self.per:.2f} % [{self.convention}]  (sub {self.sub}, del {self.dels}, ins {self.ins}, "
                f"N {self.n_ref}, {self.n_utts} utterances)")


def edit_alignment(ref: list[str], hyp: list[str]) -> list[tuple[str | None, str | None]]:
    """Minimum edit alignment (jiwer's) as (ref, hyp) pairs in order; None marks a deletion's
    hyp side or an insertion's ref side."""
    if not ref or not hyp:
        return [(r, None) for r in ref] + [(None, h) for h in hyp]
    pairs: list[tuple[str | None, str | None]] = []
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        r, h = ref[chunk.ref_start_idx:chunk.ref_end_idx], hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "insert":
            pairs += [(None, x) for x in h]
        elif chunk.type == "delete":
            pairs += [(x, None) for x in r]
        else:  # equal / substitute: same length on both sides
            pairs += list(zip(r, h))
    return pairs


def edit_alignment_optional(ref: list[str], hyp: list[str], optional: frozenset) -> list[tuple[str | None, str | None]]:
    """sclite-style alignment where reference tokens in `optional` may be deleted for free.

    Weights as sclite's DP: correct 0, insertion 3, deletion 3 (0 for an optional token),
    substitution 4; ties prefer the diagonal, then deletion. A freely deleted optional token is
    left out of the returned pairs, so it counts neither as an error nor in N.
    """
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = cost[i - 1][0] + (0 if ref[i - 1] in optional else 3)
    for j in range(1, m + 1):
        cost[0][j] = 3 * j
    for i in range(1, n + 1):
        d = 0 if ref[i - 1] in optional else 3
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j - 1] + (0 if ref[i - 1] == hyp[j - 1] else 4),
                             cost[i - 1][j] + d, cost[i][j - 1] + 3)
    pairs: list[tuple[str | None, str | None]] = []
    i, j = n, m
    while i or j:
        d = 0 if i and ref[i - 1] in optional else 3
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (0 if ref[i - 1] == hyp[j - 1] else 4):
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + d:
            if d:
                pairs.append((ref[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hyp[j - 1]))
            j -= 1
    return pairs[::-1]


def edit_alignment_folded(ref: list[str], hyp: list[str], convention: str = DEFAULT_CONVENTION) -> list[tuple]:
    """Fold both phone lists to 39 and align them under a scoring convention (see CONVENTIONS)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown scoring convention {convention!r}; use one of {sorted(CONVENTIONS)}")
    r, h = fold(ref, 39), fold(hyp, 39)
    return edit_alignment_optional(r, h, OPTIONAL[convention]) if OPTIONAL[convention] else edit_alignment(r, h)


def score(refs: dict[str, list[str]], hyps: dict[str, list[str]],
          convention: str = DEFAULT_CONVENTION) -> tuple[Score, list[tuple]]:
    """Score hypotheses against references (both any TIMIT phone set; folded to 39 here).

    Returns the corpus Score and per-utterance rows (utt_id, per, sub, del, ins, n_ref).
    Every reference utterance must have a hypothesis (missing ones would flatter the PER).
    """
    _check_complete(refs, hyps)
    total = Counts()
    rows = []
    for utt_id in sorted(refs):
        c = Counts().add(edit_alignment_folded(refs[utt_id], hyps[utt_id], convention))
        total.merge(c)
        rows.append((utt_id, 100.0 * (c.sub + c.dels + c.ins) / max(c.n_ref, 1), c.sub, c.dels, c.ins, c.n_ref))
    return Score(total.per, total.sub, total.dels, total.ins, total.n_ref, len(rows), convention), rows


def _check_complete(refs: dict, hyps: dict) -> None:
    missing = sorted(set(refs) - set(hyps))
    if missing:
        raise ValueError(f"{len(missing)} utterance(s) have no hypothesis, e.g. {missing[:3]}")


def read_hyp_file(path) -> dict[str, list[str]]:
    """`utt_id phone phone ...` per line -> {utt_id: phones}."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            utt_id, *phones = line.split()
            out[utt_id] = phones
    return out


def write_hyp_file(path, hyps: dict[str, list[str]]) -> None:
    write_text(path, "".join(f"{u} {' '.join(p)}\n" for u, p in sorted(hyps.items())))


def write_score(decode_dir, result: Score, rows: list[tuple], others: list[Score] = (), extra: dict | None = None) -> None:
    """Write per.json (the default-convention score, then each other convention's under its name,
    and `extra`, e.g. the split's utterance counts) and per_utt.txt into a decode directory."""
    decode_dir = Path(decode_dir)
    doc = {**result.as_dict(), "convention_text": CONVENTIONS[result.convention]}
    for other in others:
        doc[other.convention] = {**other.as_dict(), "convention_text": CONVENTIONS[other.convention]}
    write_json(decode_dir / "per.json", {**doc, **(extra or {})})
    lines = [f"# convention {result.convention}: {CONVENTIONS[result.convention]}\n# utt_id per sub del ins n_ref\n"] + [f"{u} {p:.2f} {s} {d} {i} {n}\n" for u, p, s, d, i, n in rows]
    write_text(decode_dir / "per_utt.txt", "".join(lines))


def speaker_of(utt_id: str) -> str:
    """TIMIT utterance ids are `<speaker>_<sentence>`."""
    return utt_id.split("_", 1)[0]


def _rate(x: int, n: int) -> float:
    return round(100.0 * x / max(n, 1), 2)


@dataclass
class Counts:
    """Alignment counts of a set of utterances (a split, a speaker)."""

    n_utts: int = 0
    n_ref: int = 0
    corr: int = 0
    sub: int = 0
    dels: int = 0
    ins: int = 0
    n_err_utts: int = 0  # utterances with at least one error (sclite's S.Err)

    def add(self, pairs: list[tuple]) -> "Counts":
        s = sum(1 for r, h in pairs if r is not None and h is not None and r != h)
        d = sum(1 for _, h in pairs if h is None)
        i = sum(1 for r, _ in pairs if r is None)
        c = sum(1 for r, h in pairs if r is not None and r == h)
        self.n_utts, self.n_ref = self.n_utts + 1, self.n_ref + c + s + d
        self.corr, self.sub, self.dels, self.ins = self.corr + c, self.sub + s, self.dels + d, self.ins + i
        self.n_err_utts += int(s + d + i > 0)
        return self

    def merge(self, other: "Counts") -> "Counts":
        for k in ("n_utts", "n_ref", "corr", "sub", "dels", "ins", "n_err_utts"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        return self

    @property
    def per(self) -> float:
        return _rate(self.sub + self.dels + self.ins, self.n_ref)

    def as_dict(self) -> dict:
        return {"per": self.per, "sub": self.sub, "del": self.dels, "ins": self.ins, "n_ref": self.n_ref,
                "n_utts": self.n_utts, "corr": self.corr, "corr_pct": _rate(self.corr, self.n_ref),
                "sub_pct": _rate(self.sub, self.n_ref), "del_pct": _rate(self.dels, self.n_ref),
                "ins_pct": _rate(self.ins, self.n_ref), "err_pct": self.per,
                "utt_err_pct": _rate(self.n_err_utts, self.n_utts)}


@dataclass
class Analysis:
    """Everything sclite would print for one split, on the 39-phone set."""

    convention: str = DEFAULT_CONVENTION
    total: Counts = field(default_factory=Counts)
    speakers: dict[str, Counts] = field(default_factory=dict)
    # (ref, hyp) -> count; ref None = insertion, hyp None = deletion, ref == hyp = correct
    pairs: Counter = field(default_factory=Counter)

    def phone_stats(self) -> dict[str, dict]:
        """Per reference phone: n, corr, sub, del, ins (as the hyp of an insertion), err% = (sub+del)/n."""
        out = {p: {"n_ref": 0, "corr": 0, "sub": 0, "del": 0, "ins": 0} for p in PHONES_39}
        for (r, h), n in self.pairs.items():
            if r is None:
                out.setdefault(h, {"n_ref": 0, "corr": 0, "sub": 0, "del": 0, "ins": 0})["ins"] += n
                continue
            row = out.setdefault(r, {"n_ref": 0, "corr": 0, "sub": 0, "del": 0, "ins": 0})
            row["n_ref"] += n
            row["corr" if r == h else "del" if h is None else "sub"] += n
        for row in out.values():
            row["err_pct"] = _rate(row["sub"] + row["del"], row["n_ref"])
        return out

    def confusions(self, top: int | None = None) -> list[tuple[str, str, int]]:
        """Substitution pairs (ref, hyp, count), most frequent first."""
        subs = [(r, h, n) for (r, h), n in self.pairs.items() if r is not None and h is not None and r != h]
        return sorted(subs, key=lambda x: (-x[2], x[0], x[1]))[:top]

    def confusion_matrix(self, phones=PHONES_39) -> list[list[int]]:
        """counts[i][j]: reference phones[i] recognised as phones[j] (diagonal: correct)."""
        index = {p: i for i, p in enumerate(phones)}
        m = [[0] * len(phones) for _ in phones]
        for (r, h), n in self.pairs.items():
            if r in index and h in index:
                m[index[r]][index[h]] += n
        return m

    def as_dict(self, top: int = 50) -> dict:
        return {**self.total.as_dict(), "convention": self.convention, "convention_text": CONVENTIONS[self.convention],
                "speakers": {s: c.as_dict() for s, c in sorted(self.speakers.items())},
                "phones": self.phone_stats(),
                "confusions": [list(x) for x in self.confusions(top)],
                "deletions": dict(sorted(((r, n) for (r, h), n in self.pairs.items() if h is None),
                                         key=lambda x: (-x[1], x[0]))),
                "insertions": dict(sorted(((h, n) for (r, h), n in self.pairs.items() if r is None),
                                          key=lambda x: (-x[1], x[0]))),
                "confusion_matrix": {"phones": list(PHONES_39), "counts": self.confusion_matrix()}}


def analyze(refs: dict[str, list[str]], hyps: dict[str, list[str]], convention: str = DEFAULT_CONVENTION) -> Analysis:
    """Align every utterance (folded to 39, as `score`) and collect sclite-style statistics."""
    _check_complete(refs, hyps)
    result = Analysis(convention)
    for utt_id in sorted(refs):
        pairs = edit_alignment_folded(refs[utt_id], hyps[utt_id], convention)
        result.total.add(pairs)
        result.speakers.setdefault(speaker_of(utt_id), Counts()).add(pairs)
        result.pairs.update(pairs)
    return result


def summary_text(analysis: Analysis, title: str = "", top: int = 20) -> str:
    """sclite-like report: per-speaker table with Sum/Avg, Mean, S.D., Median; per-phone
    error rates (worst first); the most frequent confusions, deletions and insertions."""
    cols = " ".join(f"{c:>6}" for c in ("Corr", "Sub", "Del", "Ins", "Err", "S.Err"))
    head = f"| {'SPKR':<10}| {'# Snt':>5} {'# Phn':>6} | {cols} |"
    width = len(head)
    rule, dbl = "|" + "-" * (width - 2) + "|", "|" + "=" * (width - 2) + "|"

    def line(name, c: Counts) -> str:
        d = c.as_dict()
        return (f"| {name:<10}| {c.n_utts:>5} {c.n_ref:>6} | {d['corr_pct']:>6.1f} {d['sub_pct']:>6.1f} "
                f"{d['del_pct']:>6.1f} {d['ins_pct']:>6.1f} {d['err_pct']:>6.1f} {d['utt_err_pct']:>6.1f} |")

    def stat_line(name, fn) -> str:
        rows = [c.as_dict() for c in analysis.speakers.values()]
        keys = ("n_utts", "n_ref", "corr_pct", "sub_pct", "del_pct", "ins_pct", "err_pct", "utt_err_pct")
        v = [fn([r[k] for r in rows]) if len(rows) > 1 or fn is not statistics.stdev else 0.0 for k in keys]
        return f"| {name:<10}| {v[0]:>5.1f} {v[1]:>6.1f} | " + " ".join(f"{x:>6.1f}" for x in v[2:]) + " |"

    out = ["," + "-" * (width - 2) + ".", f"|{title.center(width - 2)}|", rule, head, rule]
    out += [line(s, c) for s, c in sorted(analysis.speakers.items())]
    out += [dbl, line("Sum/Avg", analysis.total), dbl]
    if analysis.speakers:
        out += [stat_line("Mean", statistics.mean), stat_line("S.D.", statistics.stdev),
                stat_line("Median", statistics.median)]
    out += ["`" + "-" * (width - 2) + "'", ""]
    t = analysis.total
    out.append(f"PER {t.per:.2f} % [{analysis.convention}]  (N={t.n_ref}, Corr={t.corr}, Sub={t.sub}, Del={t.dels}, Ins={t.ins}, "
               f"Err={t.sub + t.dels + t.ins}) over {t.n_utts} utterances, {len(analysis.speakers)} speakers")
    out.append(f"convention {analysis.convention}: {CONVENTIONS[analysis.convention]}")
    out += ["", "Per-phone error rates (39 phones; Err = (Sub + Del) / N, Ins = insertions of the phone)",
            f"{'phone':<6} {'N':>6} {'Corr':>6} {'Sub':>6} {'Del':>6} {'Ins':>6} {'Err%':>7}"]
    stats = analysis.phone_stats()
    for p, r in sorted(stats.items(), key=lambda x: (-x[1]["err_pct"], -x[1]["n_ref"], x[0])):
        if not (r["n_ref"] or r["ins"]):
            continue
        counts = " ".join(f"{r[k]:>6}" for k in ("n_ref", "corr", "sub", "del", "ins"))
        out.append(f"{p:<6} {counts} {r['err_pct']:>7.1f}")
    out += ["", f"Top {top} confusion pairs (ref -> hyp)"]
    out += [f"{n:>6}  {r} -> {h}" for r, h, n in analysis.confusions(top)] or ["     (none)"]
    d = analysis.as_dict(top)
    for what in ("deletions", "insertions"):
        out += ["", f"Top {top} {what}"]
        out += [f"{n:>6}  {p}" for p, n in list(d[what].items())[:top]] or ["     (none)"]
    return "\n".join(out) + "\n"


def write_summary(decode_dir, analysis: Analysis, title: str = "") -> None:
    """Write summary.txt (human) and summary.json (everything, for the report) into a decode directory."""
    decode_dir = Path(decode_dir)
    write_text(decode_dir / "summary.txt", summary_text(analysis, title))
    write_json(decode_dir / "summary.json", analysis.as_dict())
