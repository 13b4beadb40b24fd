#!/usr/bin/env bash
# Measure the real-VM path on this machine: boot to armed and standby snapshot
# (N templates), restore to ack in copy and zero-copy mode (M forks each).
# Usage: scripts/qemu-measure.sh [N] [M]   (needs an image: forkmail image build)
# Env: FORKMAIL (binary, default target/debug/forkmail), STORE (default: temp).
set -euo pipefail
N=${1:-5}; M=${2:-9}
FM=${FORKMAIL:-target/debug/forkmail}
STORE=${STORE:-$(mktemp -d /tmp/fm-measure-XXXX)}
IMAGE_FROM=${IMAGE_FROM:-}
[ -n "$IMAGE_FROM" ] && mkdir -p "$STORE/images" && cp -r "$IMAGE_FROM" "$STORE/images/default"
med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
boot=(); snap=()
for i in $(seq 1 "$N"); do
  j=$("$FM" --store "$STORE" template create "m$i" --vmm qemu --memory 256M --mailbox app:tok --mailbox cfg --json 2>/dev/null)
  boot+=("$(jq -r .boot_to_armed_ms <<<"$j")"); snap+=("$(jq -r .standby_snapshot_ms <<<"$j")")
done
echo "boot_to_armed_ms: ${boot[*]} median $(printf '%s\n' "${boot[@]}" | med)"
echo "standby_snapshot_ms: ${snap[*]} median $(printf '%s\n' "${snap[@]}" | med)"
for mode in copy zero-copy; do
  r2a=(); rest=()
  for i in $(seq 1 "$M"); do
    extra=(); [ $mode = zero-copy ] && extra=(--zero-copy)
    ev=$("$FM" --store "$STORE" fork m1 --name "f$i" --json "${extra[@]}" --payload "app={\"i\":$i}" --ack app)
    rs=$(jq -r 'select(.stage=="restore" and .status=="started") | .elapsed_ms' <<<"$ev")
    ro=$(jq -r 'select(.stage=="restore" and .status=="ok") | .elapsed_ms' <<<"$ev")
    ak=$(jq -r 'select(.stage=="ack" and .status=="ok" and .mailbox==null) | .elapsed_ms' <<<"$ev")
    r2a+=($((ak - rs))); rest+=($((ro - rs)))
    "$FM" --store "$STORE" rm "f$i" >/dev/null
  done
  echo "$mode restore_to_ack_ms: ${r2a[*]} median $(printf '%s\n' "${r2a[@]}" | med)"
  echo "$mode restore_until_running_ms: ${rest[*]} median $(printf '%s\n' "${rest[@]}" | med)"
done
echo "store: $STORE"
