#!/usr/bin/env bash
# Re-train the six shipped checkpoints with the commands recorded inside them
# (see results/checkpoints.md), one after another, then regenerate the table.
#
#   scripts/train_all.sh            # all six
#   scripts/train_all.sh cifar10 bagnet9-synthbirds   # only names containing one of the patterns
#
# CPU budget: a few minutes per model on 1 thread of a quiet machine. --threads 1 is part of each
# command: CPU results are bit-reproducible for a fixed thread count. The CIFAR-10 runs need the
# JPEG copy at ../shared/data/cifar10 (override with CIFAR10_ROOT); SynthBirds is generated into
# the cache ($ATTRBENCH_CACHE or ~/.cache/attrbench) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
CIFAR10_ROOT="${CIFAR10_ROOT:-../shared/data/cifar10}"
PATTERNS=("$@")
OUT=attrbench/checkpoints

run() {  # run NAME ARGS...
    local name="$1"; shift
    if ((${#PATTERNS[@]})); then
        local p hit=0
        for p in "${PATTERNS[@]}"; do if [[ "$name" == *"$p"* ]]; then hit=1; fi; done
        ((hit)) || return 0
    fi
    echo "== $name" >&2
    attrbench train "$@" --no-progress --out "$OUT/$name.pt"
}

SYNTH=(--dataset synthbirds --image-size 96 --width 8 --layers 1,1,1,1 --epochs 12 --batch-size 64
       --lr 0.003 --weight-decay 0.0005 --seed 0 --threads 1)
CIFAR=(--dataset cifar10 --data-root "$CIFAR10_ROOT" --image-size 64 --width 8 --layers 1,1,1,1 --epochs 3
       --batch-size 64 --lr 0.003 --weight-decay 0.0005 --seed 0 --threads 1 --limit-per-class 300
       --test-limit-per-class 100)

for q in 9 17 33; do
    run "bagnet$q-synthbirds" --arch "bagnet$q" "${SYNTH[@]}"
done
for q in 9 17 33; do
    run "bagnet$q-cifar10" --arch "bagnet$q" "${CIFAR[@]}"
done
attrbench checkpoints
