"""Experiment report: training curves, confusion matrix, example utterances with reference
and hypothesis phone segments, and `exp/<name>/report.md` tying them to the numbers.

Reads what the stages wrote (history.json, decode_<split>/{summary,per,decode}.json,
per_utt.txt, segments.json); it needs no model.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from phonerec.config import ConfigError, FeatureConfig, ModelConfig, normalize_config_dict, read_yaml
from phonerec.evaluation.per import read_hyp_file
from phonerec.features.audio import AudioError, load_audio
from phonerec.features.dsp import DependencyError, mel_spectrogram
from phonerec.fileio import write_text
from phonerec.phones import PHONES_39, fold
from phonerec.segments import merge_segments, reference_segments

try:  # an extra (`pip install 'phonerec[report]'`): recognising speech does not need it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:
    raise DependencyError(f"the report needs matplotlib ({e}): pip install 'phonerec[report]'") from None

log = logging.getLogger(__name__)


def plot_history(history: list[dict], path) -> Path:
    """Train / dev loss and dev PER per epoch, best epoch marked."""
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, style in (("train_loss", "o-"), ("dev_loss", "s-")):
        pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if pts:
            ax1.plot(*zip(*pts), style, label=key.replace("_", " "), ms=4)
    ax1.set(xlabel="epoch", ylabel="CTC loss per phone", title="loss")
    ax1.legend()
    ax1.grid(alpha=0.3)
    pts = [(h["epoch"], h["dev_per"]) for h in history if h.get("dev_per") is not None]
    if pts:
        ax2.plot(*zip(*pts), "o-", color="C2", ms=4, label="dev PER")
        best = min(pts, key=lambda p: p[1])
        ax2.plot(*best, "*", color="C3", ms=14, label=f"best {best[1]:.2f} % (epoch {best[0]})")
        ax2.legend()
    ax2.set(xlabel="epoch", ylabel="PER (%)", title="dev phone error rate (greedy, during training)")
    ax2.grid(alpha=0.3)
    for ax in (ax1, ax2):
        ax.set_xticks(epochs if len(epochs) <= 25 else epochs[:: max(1, len(epochs) // 20)])
    return _save(fig, path)


def plot_confusion(counts, phones=PHONES_39, path=None, title: str = "") -> Path:
    """Row-normalised confusion matrix (reference rows, hypothesis columns), log colour scale
    so the off-diagonal confusions stay visible beside the diagonal."""
    m = np.asarray(counts, dtype=float)
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    fig, ax = plt.subplots(figsize=(10, 9))
    shown = np.where(frac > 0, frac, np.nan)
    im = ax.imshow(shown, cmap="viridis", norm=matplotlib.colors.LogNorm(vmin=1e-3, vmax=1), interpolation="nearest")
    ax.set_xticks(range(len(phones)), phones, rotation=90, fontsize=7)
    ax.set_yticks(range(len(phones)), phones, fontsize=7)
    ax.set(xlabel="hypothesis", ylabel="reference", title=title or "confusion matrix (row-normalised)")
    ax.set_xticks(np.arange(-0.5, len(phones)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(phones)), minor=True)
    ax.grid(which="minor", color="0.88", lw=0.4)
    ax.tick_params(which="minor", length=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="fraction of reference phone")
    return _save(fig, path)


def plot_utterance(wave, sample_rate: int, tiers: dict[str, list[tuple[float, float, str]]], path,
                   title: str = "", n_mels: int = 80) -> Path:
    """Log-mel spectrogram with one row of labelled segments per tier under it, on a shared time axis."""
    wave = torch.as_tensor(wave, dtype=torch.float32)
    duration = len(wave) / sample_rate
    mel = mel_spectrogram(sample_rate, n_fft=512, win_length=400, hop_length=160, n_mels=n_mels)
    spec = torch.log(mel(wave) + 1e-6).numpy()
    width = min(max(10.0, duration * 7), 30.0)
    fig, axes = plt.subplots(1 + len(tiers), 1, figsize=(width, 3 + 0.6 * len(tiers)), sharex=True,
                             gridspec_kw={"height_ratios": [5] + [1] * len(tiers), "hspace": 0.05})
    axes = np.atleast_1d(axes)
    axes[0].imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, n_mels),
                   vmin=np.percentile(spec, 5), vmax=spec.max())
    axes[0].set_ylabel("mel bin")
    axes[0].set_title(title, fontsize=10)
    for ax, (name, segs) in zip(axes[1:], tiers.items()):
        for k, (s, e, label) in enumerate(segs):
            ax.axvspan(s, e, color="C0" if k % 2 == 0 else "C1", alpha=0.25, lw=0)
            ax.axvline(s, color="k", lw=0.5)
            ax.text((s + e) / 2, 0.5, label, ha="center", va="center", fontsize=7, clip_on=True)
        ax.set_yticks([0.5], [name], fontsize=8)
        ax.set_ylim(0, 1)
    axes[-1].set_xlim(0, duration)
    axes[-1].set_xlabel("time (s)")
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def fold_segments(segments, target: int = 39) -> list[tuple[float, float, str]]:
    """Segments on 39 phones for the plots, folded as the boundary metric folds them (q's time to
    the previous segment, equal neighbours such as `sil sil` merged: boundaries.merge_segments)."""
    return merge_segments(segments, target)


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _per_utt(path) -> list[tuple[str, float]]:
    rows = []
    if Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                cols = line.split()
                rows.append((cols[0], float(cols[1])))
    return rows


def pick_examples(per_utt: list[tuple[str, float]], n: int = 3) -> list[tuple[str, str]]:
    """Best, median and worst utterances by PER (ties by id), as (label, utt_id)."""
    if not per_utt:
        return []
    ranked = sorted(per_utt, key=lambda r: (r[1], r[0]))
    picks = [("best", ranked[0][0]), ("median", ranked[len(ranked) // 2][0]), ("worst", ranked[-1][0])]
    if n > 3:
        step = max(1, len(ranked) // (n - 2))
        picks += [(f"#{i}", ranked[i][0]) for i in range(step, len(ranked), step)][: n - 3]
    seen, out = set(), []
    for label, u in picks[:n]:
        if u not in seen:
            seen.add(u)
            out.append((label, u))
    return out


def write_report(exp_dir, data_dir, splits=("dev", "test"), n_examples: int = 3) -> Path:
    """Make the plots into exp/<name>/report/ and write exp/<name>/report.md."""
    exp_dir, data_dir = Path(exp_dir), Path(data_dir)
    fig_dir = exp_dir / "report"
    md = [f"# Report: {exp_dir.name}", ""]
    state = _model_info(exp_dir)
    if state:
        md += [f"Model: `{state}`", ""]
    md += ["## Results (39 phones)", "", "| split | PER % (sil merged) | PER % (sil optional) | Corr % | Sub % | Del % "
           "| Ins % | N phones | utterances | speakers | decoding |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    summaries, conventions = {}, {}
    for split in splits:
        s = _read_json(exp_dir / f"decode_{split}" / "summary.json")
        per = _read_json(exp_dir / f"decode_{split}" / "per.json") or {}
        d = _read_json(exp_dir / f"decode_{split}" / "decode.json") or {"method": "greedy"}
        if not s:
            log.warning("%s: no summary.json (score the split first); left out of the report", split)
            continue
        summaries[split] = s
        conventions.update({s.get("convention", "sil_merged"): s.get("convention_text", "")})
        optional = per.get("sil_optional")
        if optional:
            conventions[optional["convention"]] = optional["convention_text"]
        md.append(f"| {split} | **{s['per']:.2f}** | {_f(optional and optional['per'], 2)} | {s['corr_pct']:.1f} | {s['sub_pct']:.1f} | {s['del_pct']:.1f} | "
                  f"{s['ins_pct']:.1f} | {s['n_ref']} | {s['n_utts']} | {len(s['speakers'])} | {_decoding(d)} |")
    md += [""] + [f"- `{name}`: {text}" for name, text in conventions.items() if text] + [""]
    md += _tuning_table(exp_dir, splits)
    md += _boundary_table(exp_dir, splits)
    history = _read_json(exp_dir / "history.json")
    if history:
        plot_history(history, fig_dir / "history.png")
        best = min((h for h in history if h.get("dev_per") is not None), key=lambda h: h["dev_per"], default=None)
        md += ["## Training", "", "![training curves](report/history.png)", ""]
        if best:
            md += [f"Best dev PER (greedy, during training) {best['dev_per']:.2f} % at epoch {best['epoch']} "
                   f"of {len(history)}; "
                   f"{sum(h.get('seconds', 0) for h in history) / 60:.1f} min of training.", ""]
        md += ["| epoch | train loss | dev loss | dev PER % | lr | s |", "|---|---|---|---|---|---|"]
        md += [f"| {h['epoch']} | {_f(h.get('train_loss'))} | {_f(h.get('dev_loss'))} | {_f(h.get('dev_per'), 2)} | "
               f"{h.get('lr', 0):.2e} | {h.get('seconds', 0):.0f} |" for h in history]
        md.append("")
    for split, s in summaries.items():
        md += [f"## {split}: errors", ""]
        name = f"confusion_{split}.png"
        plot_confusion(s["confusion_matrix"]["counts"], s["confusion_matrix"]["phones"], fig_dir / name,
                       f"{split} confusion matrix (row-normalised, log scale)")
        md += [f"![{split} confusion matrix](report/{name})", "", "Top confusions (ref → hyp):", ""]
        md += [", ".join(f"{r}→{h} ({n})" for r, h, n in s["confusions"][:15]) or "(none)", ""]
        phones = sorted(((p, r) for p, r in s["phones"].items() if r["n_ref"]),
                        key=lambda x: (-x[1]["err_pct"], -x[1]["n_ref"], x[0]))
        md += ["Worst phones (Err = (Sub + Del) / N): " + ", ".join(
            f"{p} {r['err_pct']:.0f} % (N {r['n_ref']})" for p, r in phones[:10]), ""]
        spk = [f"{k} {v['per']:.1f} %" for k, v in sorted(s["speakers"].items(), key=lambda x: (-x[1]["per"], x[0]))]
        if spk:
            md += [f"Speakers ({len(spk)}): worst {', '.join(spk[:3])}; best {', '.join(spk[::-1][:3])}. "
                   f"Full tables: `decode_{split}/summary.txt`.", ""]
    md += _example_section(exp_dir, data_dir, splits, n_examples, fig_dir)
    out = exp_dir / "report.md"
    write_text(out, "\n".join(md) + "\n")
    log.info("wrote %s (figures in %s)", out, fig_dir)
    return out


def _example_section(exp_dir, data_dir, splits, n, fig_dir) -> list[str]:
    """Spectrograms of the best, median and worst test utterances with their segments, all from the
    files decode wrote (segments.json: the reference and the decoded phones aligned by the model)."""
    split = "test" if "test" in splits else splits[-1]
    picks = pick_examples(_per_utt(exp_dir / f"decode_{split}" / "per_utt.txt"), n)
    manifest = _read_json(data_dir / "manifests" / f"{split}.json")
    segments = _read_json(exp_dir / f"decode_{split}" / "segments.json")
    if not picks or not manifest or not segments:
        return []
    sample_rate = _sample_rate(exp_dir)
    per = dict(_per_utt(exp_dir / f"decode_{split}" / "per_utt.txt"))
    hyp_file = exp_dir / f"decode_{split}" / "hyp.txt"
    decoded = read_hyp_file(hyp_file) if hyp_file.is_file() else {}
    md = [f"## Example {split} utterances", "",
          "Log-mel spectrogram; under it the reference segments (hand labels, when the corpus has them), the "
          f"reference phones forced-aligned by the model and the decoded phones aligned by it ({segments['method']}), "
          "all folded to 39 phones.", ""]
    for label, utt_id in picks:
        row, segs = manifest.get(utt_id), segments["utts"].get(utt_id) or {}
        if row is None or not segs.get("hyp"):
            continue
        try:
            wave = load_audio(row["wav"], sample_rate)
        except AudioError as e:
            log.warning("%s: example skipped (%s)", utt_id, e)
            continue
        tiers = {"ref": fold_segments(reference_segments(row))} if row.get("ground_truth_phn_ends") else {}
        if segs.get("forced"):
            tiers["forced"] = fold_segments(segs["forced"])
        tiers["hyp"] = fold_segments(segs["hyp"])
        name = f"utt_{utt_id}.png"
        plot_utterance(wave, sample_rate, tiers, fig_dir / name,
                       f"{utt_id} ({label} PER {per.get(utt_id, float('nan')):.1f} %): {row.get('wrd', '')}")
        md += [f"### {utt_id} ({label}, PER {per.get(utt_id, float('nan')):.1f} %)", "",
               f"![{utt_id}](report/{name})", "",
               f"- ref: `{' '.join(fold(row['phn'].split(), 39))}`",
               f"- hyp: `{' '.join(fold(decoded.get(utt_id, [p for *_, p in segs['hyp']]), 39))}`", ""]
    return md


def _sample_rate(exp_dir) -> int:
    """The model's audio rate, from the experiment's config.yaml (16 kHz when there is none)."""
    cfg = exp_dir / "config.yaml"
    values = (read_yaml(cfg) or {}) if cfg.is_file() else {}
    return int((values.get("features") or {}).get("sample_rate", FeatureConfig.sample_rate))


def _boundary_table(exp_dir, splits) -> list[str]:
    """Phone boundary accuracy per split from decode_<split>/alignment.json (the score stage's)."""
    rows = []
    for split in splits:
        a = _read_json(exp_dir / f"decode_{split}" / "alignment.json")
        for kind in ("forced", "recognized") if a else ():
            m = a[kind]
            rows.append(f"| {split} | {kind} | {_f(m['within_10ms_pct'], 1)} | **{_f(m['within_20ms_pct'], 1)}** | "
                        f"{_f(m['within_30ms_pct'], 1)} | {_f(m['mean_abs_ms'], 1)} | {_f(m['median_abs_ms'], 1)} | "
                        f"{m['n_boundaries']} of {a['n_reference_boundaries']} |")
    if not rows:
        return []
    return ["## Phone boundaries (CTC Viterbi alignment vs TIMIT's hand labels)", "",
            "| split | phones | ≤ 10 ms % | ≤ 20 ms % | ≤ 30 ms % | mean ms | median ms | boundaries |",
            "|---|---|---|---|---|---|---|---|", *rows, "",
            f"forced: the reference phones aligned on the model's posteriors; recognized: the decoded phones. "
            f"Counted: {a['rule']}. Human labellers agree on 93.5 % within 20 ms (Hosom 2009).", ""]


def _tuning_table(exp_dir, splits) -> list[str]:
    """Dev PER over the LM weight x insertion bonus grid, when decode.py --tune was used."""
    for split in splits:
        tuning = (_read_json(exp_dir / f"decode_{split}" / "decode.json") or {}).get("tuning")
        if tuning:
            break
    else:
        return []
    grid = {(r["lm_weight"], r["insertion_bonus"]): r["per"] for r in tuning["grid"]}
    weights, bonuses = sorted({w for w, _ in grid}), sorted({b for _, b in grid})
    md = [f"LM weight / insertion bonus tuned on {tuning['split']} (PER %, best **bold**):", "",
          "| LM weight ↓ bonus → | " + " | ".join(f"{b:+g}" for b in bonuses) + " |",
          "|---" * (len(bonuses) + 1) + "|"]
    for w in weights:
        cells = [grid.get((w, b)) for b in bonuses]
        md.append(f"| {w:g} | " + " | ".join("" if c is None else f"**{c:.2f}**" if c == tuning["best_per"]
                                              else f"{c:.2f}" for c in cells) + " |")
    return md + [""]


def _model_info(exp_dir) -> str:
    cfg = exp_dir / "config.yaml"
    if not cfg.is_file():
        return ""
    c = read_yaml(cfg) or {}
    try:  # the model describes its own settings; an older config.yaml is read as today's
        model = ModelConfig.from_dict(normalize_config_dict(c, strict=False).get("model") or {}).describe()
    except ConfigError as e:
        model = f"model settings not readable ({e})"
    return f"{model}, {c.get('data', {}).get('train_phones')} output phones, {c.get('train', {}).get('epochs')} epochs"


def _decoding(d: dict) -> str:
    penalty = f", blank penalty {d['blank_penalty']:g}" if d.get("blank_penalty") else ""
    if d.get("method") != "beam":
        return "greedy" + penalty
    tuned = f", tuned on {d['tuned_on']}" if d.get("tuned_on") else ""
    return f"beam {d['beam']}, LM {d['lm_weight']:g}, bonus {d['insertion_bonus']:+g}{penalty}{tuned}"


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"
