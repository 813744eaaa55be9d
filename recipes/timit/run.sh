#!/usr/bin/env bash
# phonerec TIMIT recipe: prepare -> features -> train -> decode -> score.
#   ./run.sh                               # synthetic corpus (generated into data/), conf/crdnn_quick.yaml
#   ./run.sh --timit /data/TIMIT           # a real TIMIT copy, conf/crdnn.yaml (the full model, for a GPU)
#   ./run.sh --stage 3 --stop-stage 3 --resume true   # continue an interrupted training
#   ./run.sh --stage 4 --decode beam                  # beam search + phone bigram LM, tuned on dev
# Paths are relative to this folder. A stage whose output is up to date is skipped unless --force true.
# Stages 2-5 are ../common/stages.sh, shared with the other recipes.
set -euo pipefail
cd "$(dirname "$0")"
source ../common/stages.sh

timit=""                       # TIMIT root; empty: generate the synthetic corpus into $data/synthetic_timit
dev_spk=""                     # speaker lists; empty: the standard dev (50) and core test (24) lists
test_spk=""                    #   packaged with phonerec (src/phonerec/resources/)
test_set=core                  # core (192 utts on TIMIT) or full (1344)
skip_bad=false                 # leave out bad TRAIN utterances (listed in data/manifests/skipped.txt)
allow_incomplete_test=false    # also leave out bad dev/test utterances (counted in per.json); else an error
synth_seed=0

recipe_option() {  # this recipe's own options (parse_options)
  case "$1" in
    --timit) timit=$2 ;; --dev-spk) dev_spk=$2 ;; --test-spk) test_spk=$2 ;; --test-set) test_set=$2 ;;
    --skip-bad) skip_bad=$2 ;; --allow-incomplete-test) allow_incomplete_test=$2 ;; --synth-seed) synth_seed=$2 ;;
    *) return 1 ;;
  esac
}
parse_options "$@"
if [ -n "$timit" ]; then resolve_common_options conf/crdnn.yaml; else resolve_common_options conf/crdnn_quick.yaml; fi

if [ -z "$timit" ]; then
  timit=$data/synthetic_timit
  if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
    args=("$timit/.stage.json" --setting "synth_seed=$synth_seed" --output "$timit/TEST")
    if current "${args[@]}"; then
      log "stage 0: $timit is up to date, skipped"
    else
      log "stage 0: synthetic corpus (seed $synth_seed) -> $timit (changed: $changed)"
      $python $scripts/make_synthetic_timit.py --out "$timit" --seed "$synth_seed" --force
      record_done "${args[@]}"
    fi
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  # reads the corpus tree (a folder made by stage 0 is known by its record) and the speaker lists given
  args=("$data/manifests/.stage.json" --input "corpus=$timit" --setting "corpus_path=$(abspath "$timit")" --setting "test_set=$test_set"
        --setting "skip_bad=$skip_bad" --setting "allow_incomplete_test=$allow_incomplete_test"
        --output "$data/manifests/test.json")
  [ -n "$dev_spk" ] && args+=(--input "dev speakers=$dev_spk")
  [ -n "$test_spk" ] && args+=(--input "test speakers=$test_spk")
  if current "${args[@]}"; then
    log "stage 1: $data/manifests is up to date, skipped"
  else
    log "stage 1: prepare $timit -> $data/manifests/{train,dev,test}.json (changed: $changed)"
    opts=(); [ "$skip_bad" = true ] && opts+=(--skip-bad)
    [ -n "$dev_spk" ] && opts+=(--dev-spk "$dev_spk")
    [ -n "$test_spk" ] && opts+=(--test-spk "$test_spk")
    [ "$allow_incomplete_test" = true ] && opts+=(--allow-incomplete-test)
    $python $scripts/prepare.py --timit "$timit" --out "$data/manifests" --test-set "$test_set" "${opts[@]}"
    record_done "${args[@]}"
  fi
fi

run_common_stages
