# Stages 2-5 of every phonerec recipe (features -> train -> decode -> score/report), sourced by
# recipes/<corpus>/run.sh after its own stages 0-1 (corpus, prepare) wrote $data/manifests.
# Kaldi style: `if [ $stage -le N ] && [ $stop_stage -ge N ]`, a log line per stage naming input ->
# output, a finished stage skipped unless --force true or what it read changed (`current` below).
#
# Stage 3 on a corpus without phone times (no ground_truth_phn_ends in the train manifest) and a
# config with a frame head (train.frame_weight > 0): round 0 trains the config with CTC alone
# ($expdir/round0, --round0-epochs), then each of --align-rounds rounds aligns the train phones
# with the previous model (phonerec relabel -> $data/aligned<r>) and trains the config on them,
# starting from the previous model's weights (train.init_from; --warm-start false: from random
# weights); the last round is $expdir. relabel refines the model's alignment by --refine-iterations rounds of
# Viterbi training with a narrow-window frame classifier (experiment.viterbi_training). --round-speeds
# 0.9,1.0,1.1 trains each alignment round on speed-perturbed copies of the train speech (features made for
# it in $data/aligned<r>/speeds, the labels' times scaled with each copy); --round-epochs N sets the rounds'
# epochs (default: the config's).
#
# Expects: stage stop_stage config expdir data force resume decode python scripts (set by
# parse_common_option's defaults below).

log() { echo "$(date +%H:%M:%S) [run.sh] $*"; }
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# The one up-to-date rule of every stage (phonerec.records): a stage records what it read (content
# digests of its input files and folders) and the settings it ran with; it is up to date exactly
# when that record matches what it would read now and its outputs exist. `touch` reruns nothing.
#   current RECORD ARGS...   0: up to date; 1: must run, $changed says why (--force true: always 1), and
#                            RECORD is removed, so that a run interrupted half way is never taken as done
#   record_done RECORD ARGS...  after the stage succeeded
# ARGS: --input "NAME=PATH" (file or folder), --setting KEY=VALUE, --config FILE [--set k=v]
# [--settings-of features] (the resolved config's settings), --output PATH.
changed=""
current() {
  if [ "$force" = true ]; then changed="--force true"; rm -f "$1"; return 1; fi
  changed=$($python $scripts/stage.py check --record "$@") && return 0
  rm -f "$1"; return 1
}
record_done() { $python $scripts/stage.py done --record "$@"; }

stage=0; stop_stage=100; config=""; exp=""; data=data; force=false; resume=false; decode=greedy
align_rounds=1; round0_epochs=""; refine_iterations=8; warm_start=true; round_speeds=1.0; round_epochs=
python=${PYTHON:-python}
scripts=../../scripts

# parse_common_option NAME VALUE: 0 when it is one of the options every recipe has
parse_common_option() {
  case "$1" in
    --stage) stage=$2 ;; --stop-stage|--stop_stage) stop_stage=$2 ;; --config) config=$2 ;; --exp) exp=$2 ;;
    --data) data=$2 ;; --force) force=$2 ;; --resume) resume=$2 ;; --decode) decode=$2 ;;
    --align-rounds) align_rounds=$2 ;; --round0-epochs) round0_epochs=$2 ;;
    --refine-iterations) refine_iterations=$2 ;; --warm-start) warm_start=$2 ;;
    --round-speeds) round_speeds=$2 ;; --round-epochs) round_epochs=$2 ;;
    *) return 1 ;;
  esac
}

# parse_options "$@": every option, each taking one value: the common ones (parse_common_option), then the
# recipe's own through its function `recipe_option NAME VALUE` (0 when it took it). -h/--help prints the
# script's header comment; an unknown option is an error.
parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$(basename "$0")"; exit 0 ;; esac
    parse_common_option "$1" "${2-}" || recipe_option "$1" "${2-}" || { echo "run.sh: unknown option $1" >&2; exit 1; }
    shift 2
  done
}

# resolve_common_options DEFAULT_CONFIG: after parsing; sets expdir
resolve_common_options() {
  [ -n "$config" ] || config=$1
  [ -n "$exp" ] || exp=$(basename "$config" .yaml)
  case "$exp" in /*) expdir=$exp ;; *) expdir=exp/$exp ;; esac   # absolute: used as is
  case "$decode" in greedy|beam) ;; *) echo "run.sh: --decode must be greedy or beam, got '$decode'" >&2; exit 1 ;; esac
  check_speeds --round-speeds "$round_speeds"
  [[ -z $round_epochs || $round_epochs =~ ^[1-9][0-9]*$ ]] || {
    echo "run.sh: --round-epochs must be a positive whole number, got '$round_epochs'" >&2; exit 1; }
}

# check_speeds OPTION VALUE: speeds separated by commas (features.speed_perturb, which the config checks further)
check_speeds() {
  [[ $2 =~ ^[0-9]*\.?[0-9]+(,[0-9]*\.?[0-9]+)*$ ]] && return 0
  echo "run.sh: $1 takes speeds separated by commas, such as 0.9,1.0,1.1 (1.0: no copies), got '$2'" >&2; exit 1
}

# has_copies SPEEDS: 0 when SPEEDS asks for speed-perturbed copies (anything but 1 or 1.0)
has_copies() { case "$1" in 1|1.0) return 1 ;; *) return 0 ;; esac; }

# speed_copies DATA SPEEDS: DATA/speeds, DATA's labels (manifests linked) with features of speed-perturbed copies
# of its train split (dev and test as they are), normalised with $data/fbank's statistics
speed_copies() {
  local d=$1 out=$1/speeds sp=(--set "features.speed_perturb=[$2]")
  local args=("$out/.stage.json" --config "$config" "${sp[@]}" --settings-of features --input "cmvn=$data/fbank/cmvn.json"
              --output "$out/manifests/train.json" --output "$out/fbank/cmvn.json") split
  for split in train dev test; do
    args+=(--input "$split labels=$d/manifests/$split.json" --output "$out/fbank/$split.json")
  done
  if current "${args[@]}"; then log "stage 3: $out is up to date, skipped"; return 0; fi
  log "stage 3: features of $d at speeds $2 -> $out (changed: $changed)"
  mkdir -p "$out"; ln -sfn ../manifests "$out/manifests"
  $python $scripts/features.py --data "$out" --config "$config" "${sp[@]}" --cmvn "$data/fbank/cmvn.json"
  record_done "${args[@]}"
}

# train_one DATA EXP [--set k=v ...]: stage 3 for one model. It reads DATA's train and dev labels, its
# features and, with train.init_from, the model it starts from; its settings are the resolved config's
# (decoding and worker counts left out). --resume true: an out-of-date model continues from its last
# checkpoint instead of starting anew; an up-to-date one is skipped all the same.
train_one() {
  local d=$1 e=$2; shift 2
  local args=("$e/.stage.json" --config "$config" "$@" --input "train labels=$d/manifests/train.json"
              --input "dev labels=$d/manifests/dev.json" --input "features=$d/fbank" --output "$e/model.pt") a
  for a in "$@"; do case "$a" in train.init_from=*) args+=(--input "start model=${a#train.init_from=}") ;; esac; done
  if current "${args[@]}"; then log "stage 3: $e/model.pt is up to date, skipped"; return 0; fi
  log "stage 3: train $config $* on $d -> $e (changed: $changed)"
  local opts=(); if [ "$resume" = true ]; then opts+=(--resume); else rm -rf "$e/checkpoints"; fi
  $python $scripts/train.py --config "$config" --data "$d" --exp "$e" "$@" "${opts[@]}"
  record_done "${args[@]}"
}

needs_aligned_labels() {   # the train manifest has no phone times and the config trains a frame head
  $python - "$data/manifests/train.json" "$config" <<'PY'
import json, sys
from phonerec.config import load_config
rows = json.load(open(sys.argv[1]))
sys.exit(0 if load_config(sys.argv[2], []).train.frame_weight > 0
         and not all(r.get("ground_truth_phn_ends") for r in rows.values()) else 1)
PY
}

run_common_stages() {
  if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
    local args=("$data/fbank/.stage.json" --config "$config" --settings-of features --output "$data/fbank/cmvn.json") split
    for split in train dev test; do   # <split>.json: the cache's identity (features.store); old caches lack it
      args+=(--input "$split labels=$data/manifests/$split.json" --output "$data/fbank/$split.json")
    done
    if current "${args[@]}"; then
      log "stage 2: $data/fbank is up to date, skipped"
    else
      log "stage 2: features $data/manifests -> $data/fbank (changed: $changed)"
      $python $scripts/features.py --data "$data" --config "$config"
      record_done "${args[@]}"
    fi
  fi

  if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
    if needs_aligned_labels; then
      log "stage 3: $data/manifests/train.json has no phone times: round 0 (CTC alone), then $align_rounds alignment round(s)"
      local prev=$expdir/round0 r
      train_one "$data" "$prev" --set train.frame_weight=0 ${round0_epochs:+--set train.epochs=$round0_epochs}
      for r in $(seq 1 "$align_rounds"); do
        local next=$expdir/round$r; [ "$r" = "$align_rounds" ] && next=$expdir
        local args=("$data/aligned$r/.stage.json" --input "model=$prev/model.pt" --input "features=$data/fbank"
                    --setting "refine_iterations=$refine_iterations" --output "$data/aligned$r/manifests/train.json") split
        for split in train dev test; do args+=(--input "$split labels=$data/manifests/$split.json"); done
        if current "${args[@]}"; then
          log "stage 3: $data/aligned$r is up to date, skipped"
        else
          log "stage 3: relabel $data/manifests/train.json with $prev/model.pt ($refine_iterations realignment iterations) -> $data/aligned$r (changed: $changed)"
          $python $scripts/relabel.py --exp "$prev" --data "$data" --out "$data/aligned$r" --refine-iterations "$refine_iterations"
          record_done "${args[@]}"
        fi
        local opts=(); [ "$warm_start" = true ] && opts=(--set "train.init_from=$prev/model.pt")
        [ -z "$round_epochs" ] || opts+=(--set "train.epochs=$round_epochs")
        if has_copies "$round_speeds"; then
          speed_copies "$data/aligned$r" "$round_speeds"
          train_one "$data/aligned$r/speeds" "$next" "${opts[@]}" --set "features.speed_perturb=[$round_speeds]"
        else
          train_one "$data/aligned$r" "$next" "${opts[@]}"
        fi
        prev=$next
      done
    else
      train_one "$data" "$expdir"
    fi
  fi

  if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
    # reads the model, the dev/test labels and features, and the train labels (the bigram LM); beam tunes
    # on dev and stores its choice in model.pt, whose content the record then holds
    local args=("$expdir/.decode.stage.json" --input "model=$expdir/model.pt" --input "features=$data/fbank"
                --setting "decode=$decode" --output "$expdir/decode_dev/hyp.txt" --output "$expdir/decode_test/hyp.txt") split
    for split in train dev test; do args+=(--input "$split labels=$data/manifests/$split.json"); done
    if current "${args[@]}"; then
      log "stage 4: $expdir/decode_test/hyp.txt is up to date, skipped"
    else
      log "stage 4: decode $expdir/model.pt -> $expdir/decode_{dev,test}/hyp.txt (changed: $changed)"
      local opts=(--method "$decode"); [ "$decode" = beam ] && opts+=(--tune)
      $python $scripts/decode.py --exp "$expdir" --data "$data" --splits dev test "${opts[@]}"
      record_done "${args[@]}"
    fi
  fi

  if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
    local args=("$expdir/.score.stage.json" --output "$expdir/report.md") split f
    for split in dev test; do
      args+=(--input "$split labels=$data/manifests/$split.json")
      for f in hyp.txt segments.json decode.json; do args+=(--input "$split $f=$expdir/decode_$split/$f"); done
    done
    for f in history.json config.yaml; do  # the report's training section and model description
      [ -f "$expdir/$f" ] && args+=(--input "$f=$expdir/$f")
    done
    if current "${args[@]}"; then
      log "stage 5: $expdir/report.md is up to date, skipped"
    else
      log "stage 5: score $expdir/decode_{dev,test}/hyp.txt -> per.json, summary.txt; report -> $expdir/report.md (changed: $changed)"
      $python $scripts/score.py --exp "$expdir" --data "$data" --splits dev test --report
      record_done "${args[@]}"
    fi
  fi
}
