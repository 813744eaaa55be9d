# Stages 2-5 of every phonerec recipe (features -> train -> decode -> score/report), sourced by
# recipes/<corpus>/run.sh after its own stages 0-1 (corpus, prepare) wrote $data/manifests.
# Kaldi style: `if [ $stage -le N ] && [ $stop_stage -ge N ]`, a log line per stage naming input ->
# output, a finished stage skipped unless --force true or what it was made from changed.
#
# Stage 3 on a corpus without phone times (no ground_truth_phn_ends in the train manifest) and a
# config with a frame head (train.frame_weight > 0): round 0 trains the config with CTC alone
# ($expdir/round0, --round0-epochs), then each of --align-rounds rounds aligns the train phones
# with the previous model (phonerec relabel -> $data/aligned<r>) and trains the config on them,
# starting from the previous model's weights (train.init_from; --warm-start false: from random
# weights); the last round is $expdir. relabel refines the model's alignment by --refine-iterations rounds of
# Viterbi training with a narrow-window frame classifier (experiment.realign).
#
# Expects: stage stop_stage config expdir data force resume decode python scripts (set by
# parse_common_option's defaults below).

log() { echo "$(date +%H:%M:%S) [run.sh] $*"; }
done_or_forced() { [ "$force" = true ] || [ ! -e "$1" ]; }   # true when the stage must run
# A stage also reruns when what it was made from changed: its inputs are recorded in a stamp file.
stamp_differs() { [ ! -e "$1" ] || [ "$(cat "$1")" != "$2" ]; }
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

stage=0; stop_stage=100; config=""; exp=""; data=data; force=false; resume=false; decode=greedy
align_rounds=1; round0_epochs=""; refine_iterations=8; warm_start=true
python=${PYTHON:-python}
scripts=../../scripts

# parse_common_option NAME VALUE: 0 when it is one of the options every recipe has
parse_common_option() {
  case "$1" in
    --stage) stage=$2 ;; --stop-stage|--stop_stage) stop_stage=$2 ;; --config) config=$2 ;; --exp) exp=$2 ;;
    --data) data=$2 ;; --force) force=$2 ;; --resume) resume=$2 ;; --decode) decode=$2 ;;
    --align-rounds) align_rounds=$2 ;; --round0-epochs) round0_epochs=$2 ;;
    --refine-iterations) refine_iterations=$2 ;; --warm-start) warm_start=$2 ;;
    *) return 1 ;;
  esac
}

# resolve_common_options DEFAULT_CONFIG: after parsing; sets expdir
resolve_common_options() {
  [ -n "$config" ] || config=$1
  [ -n "$exp" ] || exp=$(basename "$config" .yaml)
  case "$exp" in /*) expdir=$exp ;; *) expdir=exp/$exp ;; esac   # absolute: used as is
  case "$decode" in greedy|beam) ;; *) echo "run.sh: --decode must be greedy or beam, got '$decode'" >&2; exit 1 ;; esac
}

# train_one DATA EXP [--set k=v ...]: stage 3's up-to-date rule for one model
train_one() {
  local d=$1 e=$2; shift 2
  local stale=""
  if [ "$resume" != true ] && [ "$force" != true ] && [ -e "$e/model.pt" ]; then
    stale=$($python $scripts/train.py --check --config "$config" --data "$d" --exp "$e" "$@") || true
    [ -z "$stale" ] || log "stage 3: $stale: training it anew"
  fi
  if [ "$resume" = true ] || done_or_forced "$e/model.pt" || [ "$d/fbank/train.pt" -nt "$e/model.pt" ] \
     || [ -n "$stale" ]; then
    log "stage 3: train $config $* on $d/fbank -> $e"
    local opts=(); [ "$resume" = true ] && opts+=(--resume)
    { [ "$force" = true ] || [ -n "$stale" ]; } && [ "$resume" != true ] && rm -rf "$e/checkpoints"
    $python $scripts/train.py --config "$config" --data "$d" --exp "$e" "$@" "${opts[@]}"
    return 0
  fi
  log "stage 3: $e/model.pt is up to date, skipped"
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
    local feats
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
    if needs_aligned_labels; then
      log "stage 3: $data/manifests/train.json has no phone times: round 0 (CTC alone), then $align_rounds alignment round(s)"
      local prev=$expdir/round0 r
      train_one "$data" "$prev" --set train.frame_weight=0 ${round0_epochs:+--set train.epochs=$round0_epochs}
      for r in $(seq 1 "$align_rounds"); do
        local next=$expdir/round$r; [ "$r" = "$align_rounds" ] && next=$expdir
        if done_or_forced "$data/aligned$r/manifests/train.json" || [ "$prev/model.pt" -nt "$data/aligned$r/manifests/train.json" ] \
            || stamp_differs "$data/aligned$r/manifests/inputs.txt" "refine_iterations=$refine_iterations"; then
          log "stage 3: relabel $data/manifests/train.json with $prev/model.pt ($refine_iterations realignment iterations) -> $data/aligned$r"
          $python $scripts/relabel.py --exp "$prev" --data "$data" --out "$data/aligned$r" --refine-iterations "$refine_iterations"
          echo "refine_iterations=$refine_iterations" > "$data/aligned$r/manifests/inputs.txt"
        fi
        local init=(); [ "$warm_start" = true ] && init=(--set "train.init_from=$prev/model.pt")
        train_one "$data/aligned$r" "$next" "${init[@]}"
        prev=$next
      done
    else
      train_one "$data" "$expdir"
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
      local opts=(--method "$decode"); [ "$decode" = beam ] && opts+=(--tune)
      $python $scripts/decode.py --exp "$expdir" --data "$data" --splits dev test "${opts[@]}"
    else
      log "stage 4: $expdir/decode_test/hyp.txt is up to date, skipped"
    fi
  fi

  if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
    log "stage 5: score $expdir/decode_{dev,test}/hyp.txt -> per.json, summary.txt; report -> $expdir/report.md"
    $python $scripts/score.py --exp "$expdir" --data "$data" --splits dev test --report
  fi
}
