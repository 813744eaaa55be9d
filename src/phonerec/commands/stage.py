"""Is a recipe stage up to date? One rule for every stage of run.sh (phonerec.records).

  stage.py check --record R --input "train labels=data/manifests/train.json" --setting method=beam \\
      [--config conf/x.yaml --set train.epochs=6 --settings-of training] [--output exp/x/model.pt]
      exit 0: up to date (prints nothing); exit 1: prints what changed, one line
  stage.py done  (the same options): record them, after the stage succeeded

--config adds the resolved config's settings (every setting that shapes the weights, or the
features section alone) to the --setting ones, so a changed train.epochs reads `train.epochs 4 -> 6`.
"""
from __future__ import annotations

import argparse
import sys

from phonerec.config import ConfigError, flat_settings, load_config
from phonerec.records import changes, write_record


def pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"stage: {what} must be NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["check", "done"])
    p.add_argument("--record", required=True, help="the stage's record file")
    p.add_argument("--input", action="append", default=[], help="NAME=PATH of a file or folder it reads")
    p.add_argument("--setting", action="append", default=[], help="KEY=VALUE it runs with")
    p.add_argument("--output", action="append", default=[], help="a path it writes (must exist to be up to date)")
    p.add_argument("--config", help="experiment YAML whose resolved settings count too")
    p.add_argument("--set", action="append", default=[], help="config override, as train.py takes it")
    p.add_argument("--settings-of", choices=["training", "features"], default="training")
    a = p.parse_args(argv)
    inputs, settings = pairs(a.input, "--input"), pairs(a.setting, "--setting")
    if a.config is not None or a.set:
        try:
            settings.update(flat_settings(load_config(a.config, a.set), a.settings_of))
        except ConfigError as e:
            print(f"config: {e}")
            return 1
    if a.action == "done":
        write_record(a.record, inputs, settings, a.output)
        return 0
    why = changes(a.record, inputs, settings, a.output)
    if why:
        print("; ".join(why))
        sys.stdout.flush()
    return 1 if why else 0
