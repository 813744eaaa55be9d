#!/usr/bin/env bash
# The README's GPU checks in one run (one lease of a GPU machine is short): the CUDA tests, the
# benchmark of crdnn.yaml on the TIMIT-sized synthetic corpus, the whole TIMIT recipe on that corpus
# (stopped, if it has not finished, GPU_CHECKS_NUMERICS_S before DEADLINE seconds; its log then shows
# the epochs it reached), then bf16 numerics and torch.compile (scripts/gpu_checks.py) until DEADLINE.
#   bash scripts/gpu_checks.sh OUT_DIR [DEADLINE_S]
# Needs phonerec importable (pip install -e ., or PYTHONPATH=src) and PYTHON naming the interpreter.
set -uo pipefail
out=${1:?usage: gpu_checks.sh OUT_DIR [DEADLINE_S]}
deadline=${2:-540}
checks_s=${GPU_CHECKS_NUMERICS_S:-150}   # kept for bf16 numerics and torch.compile, after the recipe
py=${PYTHON:-python3}
work=${GPU_CHECKS_WORK:-/tmp/gpu_checks}
config=${GPU_CHECKS_CONFIG:-recipes/timit/conf/crdnn.yaml}   # overrides for a dry run on a CPU
config_abs=$(realpath "$config")
speakers=${GPU_CHECKS_SPEAKERS:-58}                        # per dialect region: 58 is TIMIT-sized
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
step() { echo "=== $(elapsed) s: $*"; }
mkdir -p "$out" "$work"

step "device"
nvidia-smi -L 2>/dev/null || true
$py -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")'

step "CUDA tests"
$py -m pytest -q -x tests/test_device_path.py tests/test_trainer.py -k "cuda" -p no:cacheprovider 2>&1 | tail -5

step "benchmark $config, synthetic corpus of $speakers speakers per region"
$py scripts/benchmark.py --config "$config" --synthetic "$speakers" --work "$work/bench58" \
  --steps 30 --warmup 5 --json "$out/bench_crdnn.json" 2>&1 | grep -v '^\s*$' | tail -40

left=$(( deadline - checks_s - $(elapsed) ))
step "whole recipe ($config, --timit the same corpus), ${left} s left"
if [ "$left" -gt 30 ]; then
  ( cd recipes/timit && PYTHON=$py timeout "$left" ./run.sh --timit "$work/bench58/TIMIT" --config "$config_abs" --data "$work/d58" \
      --exp "$work/exp58" ) > "$out/recipe.log" 2>&1
  echo "recipe rc $? after $(elapsed) s"
  grep -E "\[run.sh\]|epoch" "$out/recipe.log" | tail -60
  cp "$work/exp58/decode_test/per.json" "$out/per_test.json" 2>/dev/null || true
  cp "$work/exp58/report.md" "$out/" 2>/dev/null || true
fi
left=$(( deadline - $(elapsed) )); [ "$left" -ge 20 ] || left=20
step "bf16 numerics and torch.compile, ${left} s left"
timeout "$left" $py scripts/gpu_checks.py --config "$config" --data "$work/bench58/data" \
  --json "$out/gpu_checks.json" 2>&1 | grep -v Warning | tail -12

step "done"
