#!/usr/bin/env bash
# phonerec TIMIT recipe: prepare -> features -> train -> decode -> score.
#   ./run.sh                               # synthetic corpus (generated into data/), conf/crdnn_quick.yaml
#   ./run.sh --timit /data/TIMIT           # a real TIMIT copy, conf/crdnn.yaml (the full model, for a GPU)
#   ./run.sh --stage 3 --stop-stage 3 --resume true   # continue an interrupted training
#   ./run.sh --stage 4 --decode beam                  # beam search + phone bigram LM, tuned on dev
# Paths are relative to this folder. A stage whose output is up to date is skipped unless --force true.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=100
timit=""                       # TIMIT root; empty: generate the synthetic corpus into $data/synthetic_timit
config=""                      # default: conf/crdnn.yaml with --timit, conf/crdnn_quick.yaml without
exp=""                         # experiment name (default: the config's file name)
data=data                      # manifests and features go here
dev_spk=""                     # speaker lists; empty: the standard dev (50) and core test (24) lists
test_spk=""                    #   packaged with phonerec (src/phonerec/resources/)
test_set=core                  # core (192 utts on TIMIT) or full (1344)
skip_bad=false                 # leave out bad TRAIN utterances (listed in data/manifests/skipped.txt)
allow_incomplete_test=false    # also leave out bad dev/test utterances (counted in per.json); else an error
force=false
resume=false
synth_seed=0
decode=greedy                  # greedy | beam (beam search + bigram LM, LM weight / insertion bonus tuned on dev)
python=${PYTHON:-python}

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2 ;; --stop-stage|--stop_stage) stop_stage=$2 ;;
    --timit) timit=$2 ;; --config) config=$2 ;; --exp) exp=$2 ;; --data) data=$2 ;;
    --dev-spk) dev_spk=$2 ;; --test-spk) test_spk=$2 ;; --test-set) test_set=$2 ;;
    --skip-bad) skip_bad=$2 ;; --allow-incomplete-test) allow_incomplete_test=$2 ;; --force) force=$2 ;; --resume) resume=$2 ;; --synth-seed) synth_seed=$2 ;;
    --decode) decode=$2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 1 ;;
  esac
  shift 2
done
if [ -z "$config" ]; then
  if [ -n "$timit" ]; then config=conf/crdnn.yaml; else config=conf/crdnn_quick.yaml; fi
fi
[ -n "$exp" ] || exp=$(basename "$config" .yaml)
case "$exp" in /*) expdir=$exp ;; *) expdir=exp/$exp ;; esac   # absolute: used as is
scripts=../../scripts
log() { echo "$(date +%H:%M:%S) [run.sh] $*"; }
done_or_forced() { [ "$force" = true ] || [ ! -e "$1" ]; }   # true when the stage must run
# A stage also reruns when what it was made from changed: its inputs are recorded in a stamp file.
stamp_differs() { [ ! -e "$1" ] || [ "$(cat "$1")" != "$2" ]; }
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
case "$decode" in greedy|beam) ;; *) echo "run.sh: --decode must be greedy or beam, got '$decode'" >&2; exit 1 ;; esac

if [ -z "$timit" ]; then
  timit=$data/synthetic_timit
  if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
    if done_or_forced "$timit"; then
      log "stage 0: synthetic corpus (seed $synth_seed) -> $timit"
      $python $scripts/make_synthetic_timit.py --out "$timit" --seed "$synth_seed" --force
    else
      log "stage 0: $timit exists, skipped"
    fi
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  corpus="$(abspath "$timit") test_set=$test_set dev=${dev_spk:+$(abspath "$dev_spk")} test=${test_spk:+$(abspath "$test_spk")} skip_bad=$skip_bad allow_incomplete_test=$allow_incomplete_test"
  if done_or_forced "$data/manifests/test.json" || stamp_differs "$data/manifests/inputs.txt" "$corpus"; then
    log "stage 1: prepare $timit -> $data/manifests/{train,dev,test}.json"
    opts=(); [ "$skip_bad" = true ] && opts+=(--skip-bad)
    [ -n "$dev_spk" ] && opts+=(--dev-spk "$dev_spk")
    [ -n "$test_spk" ] && opts+=(--test-spk "$test_spk")
    [ "$allow_incomplete_test" = true ] && opts+=(--allow-incomplete-test)
    $python $scripts/prepare.py --timit "$timit" --out "$data/manifests" --test-set "$test_set" "${opts[@]}"
    echo "$corpus" > "$data/manifests/inputs.txt"
  else
    log "stage 1: $data/manifests is up to date, skipped"
  fi
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  feats=$($python -c 'import sys; from phonerec.config import load_config; print(load_config(sys.argv[1], []).features)' "$config")
  if done_or_forced "$data/fbank/test.pt" || [ "$data/manifests/test.json" -nt "$data/fbank/test.pt" ] \
     || stamp_differs "$data/fbank/inputs.txt" "$feats"; then
    log "stage 2: features $data/manifests -> $data/fbank"
    $python $scripts/features.py --data "$data" --config "$config"
    echo "$feats" > "$data/fbank/inputs.txt"
  else
    log "stage 2: $data/fbank is up to date, skipped"
  fi
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  # up to date: model.pt newer than the features and trained with this very config (stored in it)
  stale=""
  if [ "$resume" != true ] && [ "$force" != true ] && [ -e "$expdir/model.pt" ]; then
    stale=$($python $scripts/train.py --check --config "$config" --data "$data" --exp "$expdir") || true
    [ -z "$stale" ] || log "stage 3: $stale: training it anew"
  fi
  if [ "$resume" = true ] || done_or_forced "$expdir/model.pt" || [ "$data/fbank/train.pt" -nt "$expdir/model.pt" ] \
     || [ -n "$stale" ]; then
    log "stage 3: train $config on $data/fbank -> $expdir"
    opts=(); [ "$resume" = true ] && opts+=(--resume)
    { [ "$force" = true ] || [ -n "$stale" ]; } && [ "$resume" != true ] && rm -rf "$expdir/checkpoints"
    $python $scripts/train.py --config "$config" --data "$data" --exp "$expdir" "${opts[@]}"
  else
    log "stage 3: $expdir/model.pt is up to date, skipped"
  fi
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  # up to date: hyp.txt newer than the model, decoded as --decode asks now (beam: tuned on dev)
  decoded_with() {
    local info=$expdir/decode_test/decode.json
    grep -q "\"method\": \"$decode\"" "$info" 2>/dev/null && { [ "$decode" = greedy ] || grep -q '"tuned_on": "dev"' "$info"; }
  }
  if done_or_forced "$expdir/decode_test/hyp.txt" || [ "$expdir/model.pt" -nt "$expdir/decode_test/hyp.txt" ] \
     || ! decoded_with; then
    log "stage 4: decode $expdir/model.pt -> $expdir/decode_{dev,test}/hyp.txt"
    opts=(--method "$decode"); [ "$decode" = beam ] && opts+=(--tune)
    $python $scripts/decode.py --exp "$expdir" --data "$data" --splits dev test "${opts[@]}"
  else
    log "stage 4: $expdir/decode_test/hyp.txt is up to date, skipped"
  fi
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "stage 5: score $expdir/decode_{dev,test}/hyp.txt -> per.json, summary.txt; report -> $expdir/report.md"
  $python $scripts/score.py --exp "$expdir" --data "$data" --splits dev test --report
fi
