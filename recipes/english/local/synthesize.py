#!/usr/bin/env python3
"""Synthesized native English with the synthesizer's own phone times, as training data for the frame head.

    synthesize.py --librispeech /data/LibriSpeech/train-clean-100 --exclude-speakers 4406 --out data/synth

Real speech has no exact phone times here (phonerec makes its own labels, which put vowel boundaries 10-25 ms
off: recipes/english/README.md); a synthesizer knows where every phone it made starts and ends. Four US
English voices from Debian's packages read sentences cut from LibriSpeech's transcripts (*.trans.txt; the
dev speakers' left out), each voice other sentences: festival 2.5 kal_diphone (festvox-kallpc16k) and cmu_us_slt_arctic_hts (festvox-us-slt-hts),
flite 2.2 cmu_us_rms and cmu_us_slt (libflite1, through flite_seg.c, built here with flite1-dev's headers).
Two more Debian voices, festival's ked_diphone and flite's awb, are left out so that they can measure it.

Writes OUT/TIMIT/TRAIN/DR1/<VOICE>/<ID>.{WAV,PHN,TXT} (16 kHz PCM; the HTS voice's 32 kHz resampled) and
OUT/manifests/train.json (TIMIT's manifest rows: phones and their end samples). Phones: the synthesizer's
US phone set, all TIMIT symbols, without stop closures (a stop's segment spans closure and burst; `phonerec
relabel --keep-times` puts TIMIT's closures in). A pause at either end is h#, inside pau. Built in a sibling
folder and renamed into place when complete. Same inputs and packages: the same corpus, byte for byte.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf
import torch

from phonerec.corpora.manifest import write_manifest
from phonerec.features import dsp
from phonerec.phones import PHONES_61

RATE = 16000
HERE = Path(__file__).resolve().parent
# folder, engine, voice
VOICES = [("MKAL0", "festival", "kal_diphone"), ("FSLT0", "festival", "cmu_us_slt_arctic_hts"),
          ("MRMS0", "flite", "rms"), ("FSLT1", "flite", "slt")]
SPARE = 6  # sentences per voice beyond per_voice (at most per_voice), for those that synthesize too long
SILENCES = {"pau", "h#", "sil", "brth"}
FESTIVAL_DUMP = """
(define (dump utt id dir)
  (utt.save.wave utt (string-append dir "/" id ".wav") 'riff)
  (set! fd (fopen (string-append dir "/" id ".seg") "w"))
  (mapcar (lambda (s) (format fd "%f %s\\n" (item.feat s 'end) (item.name s))) (utt.relation.items utt 'Segment))
  (fclose fd))
"""


class SynthesisError(RuntimeError):
    pass


def sentences(librispeech: Path, exclude: set[str], seed: int, min_words: int = 8, max_words: int = 14) -> list[str]:
    """The transcripts under `librispeech` (speakers in `exclude` left out) cut into pieces of
    min_words..max_words words, shuffled with `seed`."""
    rng, out = random.Random(seed), []
    for path in sorted(librispeech.rglob("*.trans.txt")):
        if path.parent.parent.name in exclude:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.lower().split()[1:]
            while len(words) >= min_words:
                n = rng.randint(min_words, max_words)
                out.append(" ".join(words[:n]))
                words = words[n:]
    rng.shuffle(out)
    return out


def scheme_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_festival(voice: str, items: list[tuple[str, str]], raw: Path) -> None:
    lines = [f"(voice_{voice})", FESTIVAL_DUMP] + [
        f"(dump (utt.synth (Utterance Text {scheme_string(t)})) {scheme_string(u)} {scheme_string(str(raw))})"
        for u, t in items]
    (raw / "synth.scm").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = subprocess.run(["festival", "-b", str(raw / "synth.scm")], capture_output=True, text=True)
    if r.returncode:
        raise SynthesisError(f"festival voice {voice} failed: {r.stderr[-1000:]}")


def flite_seg(work: Path) -> Path:
    """flite_seg.c compiled against Debian's flite1-dev into `work`."""
    exe = work / "flite_seg"
    libs = [f"-lflite_cmu_us_{v}" for v in ("rms", "slt", "awb", "kal16")]
    cmd = ["cc", "-O2", "-o", str(exe), str(HERE / "flite_seg.c"), "-I/usr/include/flite", *libs,
           "-lflite_usenglish", "-lflite_cmulex", "-lflite", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SynthesisError(f"cannot build flite_seg (apt-get install flite1-dev gcc): {r.stderr[-1000:]}")
    return exe


def run_flite(exe: Path, voice: str, items: list[tuple[str, str]], raw: Path) -> None:
    r = subprocess.run([str(exe), voice, str(raw)], input="".join(f"{u}\t{t}\n" for u, t in items),
                       capture_output=True, text=True)
    if r.returncode:
        raise SynthesisError(f"flite voice {voice} failed: {r.stderr[-1000:]}")


def phone_segments(seg_file: Path, n: int, sample_rate: int) -> list[tuple[int, int, str]]:
    """The .seg's (end seconds, name) lines -> TIMIT segments in 16 kHz samples tiling 0..n: silence at
    either end h#, inside pau, silences merged, zero-length segments dropped, the last ends at n."""
    raw = []
    for line in seg_file.read_text().split("\n"):
        if line.strip():
            end, name = line.split()
            name = name.lower()
            if name not in SILENCES and name not in PHONES_61:
                raise SynthesisError(f"{seg_file}: phone {name!r} is not a TIMIT symbol")
            end = int(round(float(end) * sample_rate))
            if end > n + sample_rate // 50:
                raise SynthesisError(f"{seg_file}: phone {name!r} ends at sample {end}, past the wave's {n} samples")
            raw.append((min(end, n), "sil" if name in SILENCES else name))
    segs: list[list] = []
    for k, (end, name) in enumerate(raw):
        start = segs[-1][1] if segs else 0
        end = n if k == len(raw) - 1 else end
        if end <= start:
            continue
        if segs and name == "sil" and segs[-1][2] == "sil":
            segs[-1][1] = end
        else:
            segs.append([start, end, name])
    speech = [k for k, s in enumerate(segs) if s[2] != "sil"]
    if not speech:
        raise SynthesisError(f"{seg_file}: no phones")
    for k, s in enumerate(segs):
        if s[2] == "sil":
            s[2] = "h#" if k < speech[0] or k > speech[-1] else "pau"
    return [tuple(s) for s in segs]


def synthesize(texts: list[str], out: Path, per_voice: int, max_seconds: float) -> dict:
    """Write the corpus into `out` (which must not exist yet): per_voice utterances of at most
    max_seconds from each voice (longer ones skipped: the next sentence is taken)."""
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        exe, rows, share = flite_seg(tmp), {}, per_voice + min(SPARE, per_voice)
        if share * len(VOICES) > len(texts):
            raise SynthesisError(f"{len(texts)} sentences, {share * len(VOICES)} needed")
        for v, (spk, engine, voice) in enumerate(VOICES):
            raw = tmp / "raw" / spk
            raw.mkdir(parents=True)
            items = [(f"C{k:04d}", texts[k]) for k in range(v * share, (v + 1) * share)]
            run_festival(voice, items, raw) if engine == "festival" else run_flite(exe, voice, items, raw)
            folder = tmp / "TIMIT" / "TRAIN" / "DR1" / spk
            folder.mkdir(parents=True)
            kept = 0
            for uid, text in items:
                if not (raw / f"{uid}.wav").is_file() or not (raw / f"{uid}.seg").is_file():
                    raise SynthesisError(f"{engine} voice {voice} wrote no {uid}.wav/.seg (is its package installed?)")
                x, sr = sf.read(str(raw / f"{uid}.wav"), dtype="float32", always_2d=True)
                if kept == per_voice or len(x) > max_seconds * sr:
                    continue
                wave = torch.from_numpy(x[:, 0].copy())
                if sr != RATE:
                    wave = dsp.resample(wave, sr, RATE)
                pcm = (wave.clamp(-1, 1) * 32767).round().short().numpy()
                segs = phone_segments(raw / f"{uid}.seg", len(pcm), RATE)
                sf.write(str(folder / f"{uid}.WAV"), pcm, RATE, format="WAV", subtype="PCM_16")
                (folder / f"{uid}.PHN").write_text("".join(f"{s} {e} {p}\n" for s, e, p in segs), encoding="utf-8")
                (folder / f"{uid}.TXT").write_text(f"0 {len(pcm)} {text}\n", encoding="utf-8")
                rows[f"{spk.lower()}_{uid.lower()}"] = {
                    "wav": str((out / "TIMIT" / "TRAIN" / "DR1" / spk / f"{uid}.WAV").resolve()),
                    "duration": len(pcm) / RATE, "spk_id": spk.lower(), "phn": " ".join(p for *_, p in segs),
                    "wrd": text, "ground_truth_phn_ends": " ".join(str(e) for _, e, _ in segs)}
                kept += 1
            if kept < per_voice:
                raise SynthesisError(f"{voice}: {kept} of {per_voice} utterances (too few sentences of at most "
                                     f"{max_seconds} s)")
        shutil.rmtree(tmp / "raw")
        (tmp / "flite_seg").unlink()
        write_manifest(tmp / "manifests" / "train.json", rows)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"utterances": len(rows), "hours": sum(r["duration"] for r in rows.values()) / 3600}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--librispeech", required=True, type=Path, help="LibriSpeech folder whose transcripts are read")
    p.add_argument("--exclude-speakers", nargs="*", default=[], help="speakers whose transcripts are not read")
    p.add_argument("--out", required=True, type=Path, help="corpus folder to create")
    p.add_argument("--per-voice", type=int, default=240, help="utterances per voice (default 240: ~1 h in all)")
    p.add_argument("--max-seconds", type=float, default=12.0)
    p.add_argument("--seed", type=int, default=8226, help="cuts and shuffles the sentences")
    a = p.parse_args(argv)
    if a.out.exists():
        print(f"synthesize.py: {a.out} exists; remove it first", file=sys.stderr)
        return 1
    try:
        info = synthesize(sentences(a.librispeech, set(a.exclude_speakers), a.seed), a.out, a.per_voice, a.max_seconds)
    except (SynthesisError, OSError, ValueError, sf.LibsndfileError) as e:
        print(f"synthesize.py: {e}", file=sys.stderr)
        return 1
    print(f"{a.out}: {info['utterances']} utterances, {info['hours']:.2f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
