#!/usr/bin/env bash
# phonerec speechocean762 recipe (OpenSLR 101, CC BY 4.0: 5000 read English sentences by 250
# Mandarin-L1 speakers, children and adults): prepare -> features -> train -> decode -> score.
#   ./run.sh --corpus /data/speechocean762          # conf/crdnn_cpu.yaml: the CPU config
#   ./run.sh --corpus /data/speechocean762 --config conf/crdnn.yaml   # the GPU config
# The corpus has no phone times, so stage 3 trains round 0 with CTC alone, aligns the train phones
# with it and trains the frame head on those labels, from round 0's weights (--align-rounds,
# --round0-epochs, --warm-start, --round-speeds, --round-epochs; see
# ../common/stages.sh). Test: the official 2500-utterance test set; dev: 13 whole train speakers.
# Stage 4 decodes with beam search and a phone bigram tuned on dev (--decode greedy: the network's best path).
# Paths are relative to this folder. A stage whose output is up to date is skipped unless --force true.
set -euo pipefail
cd "$(dirname "$0")"
source ../common/stages.sh

corpus=""                      # the unpacked corpus: WAVE/, train/, test/, resource/ (or the folder above it)
dev_spk=""                     # dev speaker list; empty: the corpus module's rule (phonerec.corpora.speechocean762)
skip_bad=false                 # leave out bad TRAIN utterances (listed in data/manifests/skipped.txt)
allow_incomplete_test=false    # also leave out bad dev/test utterances (counted in per.json); else an error
round0_epochs=4                # CTC-only model that makes the first frame labels
decode=beam                    # test 1.2 points below greedy for ~3.5 more minutes (README)

recipe_option() {  # this recipe's own options (parse_options)
  case "$1" in
    --corpus) corpus=$2 ;; --dev-spk) dev_spk=$2 ;; --skip-bad) skip_bad=$2 ;;
    --allow-incomplete-test) allow_incomplete_test=$2 ;;
    *) return 1 ;;
  esac
}
parse_options "$@"
resolve_common_options conf/crdnn_cpu.yaml
if [ -z "$corpus" ] && [ $stage -le 1 ]; then
  echo "run.sh: --corpus DIR is required (speechocean762 from OpenSLR 101, unpacked)" >&2; exit 1
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  args=("$data/manifests/.stage.json" --input "corpus=$corpus" --setting "corpus_path=$(abspath "$corpus")" --setting "skip_bad=$skip_bad"
        --setting "allow_incomplete_test=$allow_incomplete_test" --output "$data/manifests/test.json")
  [ -n "$dev_spk" ] && args+=(--input "dev speakers=$dev_spk")
  if current "${args[@]}"; then
    log "stage 1: $data/manifests is up to date, skipped"
  else
    log "stage 1: prepare $corpus -> $data/manifests/{train,dev,test}.json (changed: $changed)"
    opts=(); [ "$skip_bad" = true ] && opts+=(--skip-bad)
    [ -n "$dev_spk" ] && opts+=(--dev-spk "$dev_spk")
    [ "$allow_incomplete_test" = true ] && opts+=(--allow-incomplete-test)
    $python $scripts/prepare.py --speechocean762 "$corpus" --out "$data/manifests" "${opts[@]}"
    record_done "${args[@]}"
  fi
fi

run_common_stages
