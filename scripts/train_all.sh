#!/usr/bin/env bash
# Re-train every shipped checkpoint with the command recorded inside it (one source of truth: the
# checkpoints' meta, listed by `attrbench checkpoints --list-commands`), one after another, then
# regenerate results/checkpoints.md.
#
#   scripts/train_all.sh                       # every shipped model
#   scripts/train_all.sh cifar10 bagnet9-synthbirds   # only names containing one of the patterns
#
# The list is read before the first training starts. Checkpoints written by one run share its
# command and are trained once. Each command runs as recorded (its --threads and --out included;
# CPU results are bit-reproducible for a fixed thread count); its output goes to
# $LOG_DIR/<names>.log and one line per model (status, wall time) to $LOG_DIR/train_all.log and
# stderr. The CIFAR-10 commands read the folder they record (../shared/data/cifar10 by default);
# SynthBirds is generated into the cache ($ATTRBENCH_CACHE or ~/.cache/attrbench) on first use.
# CHECKPOINTS (default: the shipped folder) and TABLE_DIR (default: results) select other folders.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_DIR="${LOG_DIR:-train_logs}"
FOLDER=(${CHECKPOINTS:+--checkpoints "$CHECKPOINTS"})
mkdir -p "$LOG_DIR"
LIST="$(mktemp)"
trap 'rm -f "$LIST"' EXIT
attrbench checkpoints "${FOLDER[@]}" --list-commands "$@" > "$LIST"
if [[ ! -s "$LIST" ]]; then
    echo "train_all: no shipped checkpoint matches: $*" >&2
    exit 2
fi
failed=0
while IFS=$'\t' read -r names command; do
    start=$(date +%s)
    status=ok
    # the command was written by shlex.join, so the shell splits it back into the same words
    bash -c "$command" > "$LOG_DIR/$names.log" 2>&1 < /dev/null || { status=FAILED; failed=1; }
    line="$(date -u +%FT%TZ) $names $status $(( $(date +%s) - start )) s"
    echo "$line" | tee -a "$LOG_DIR/train_all.log" >&2
done < "$LIST"
attrbench checkpoints "${FOLDER[@]}" --out-dir "${TABLE_DIR:-results}" > /dev/null
exit "$failed"
