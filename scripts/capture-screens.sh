#!/usr/bin/env bash
# Recapture assets/screen*.txt (the README's and docs/tui.md's screens):
# the real binary on a fresh demo store in a 120x40 tmux pane.
# Usage: scripts/capture-screens.sh   (FORKMAIL: binary, default target/debug/forkmail)
set -euo pipefail
cd "$(dirname "$0")/.."
FM=$(realpath "${FORKMAIL:-target/debug/forkmail}")
TMP=$(mktemp -d /tmp/fm-screens-XXXX)
SOCK=fm-screens-$$
tm() { tmux -L "$SOCK" "$@"; }
cleanup() {
  tm kill-server 2>/dev/null || true
  # The forks made here are stopped and removed, their guests with them.
  for f in "$TMP"/store/forks/*/; do
    [ -d "$f" ] && "$FM" --store "$TMP/store" rm "$(basename "$f")" >/dev/null 2>&1 || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
wait_for() { # text, seconds
  for _ in $(seq 1 $(( $2 * 20 ))); do
    screen=$(tm capture-pane -p -t s)
    [[ $screen == *"$1"* ]] && return 0
    sleep 0.05
  done
  echo "timed out waiting for: $1" >&2; tm capture-pane -p -t s >&2; exit 1
}
grab() { tm capture-pane -p -t s | sed 's/[[:space:]]*$//' > "assets/$1"; echo "assets/$1"; }
tm new-session -d -s s -x 120 -y 40 "env XDG_STATE_HOME=$TMP/state $FM --store $TMP/store demo; sleep 600"
wait_for "watching store" 60
wait_for "✓ JSON object" 60
tm send-keys -t s Tab
wait_for "▸Markers" 5
grab screen.txt
tm send-keys -t s i
wait_for "typing (Esc stops)" 5
tm send-keys -t s End BSpace
tm send-keys -t s -l ', "zone": "eu"}'
wait_for "✓ JSON object" 5
grab screen-editor.txt
tm send-keys -t s Escape
wait_for "i to type" 5
tm send-keys -t s f
wait_for "fork name: web-" 5
grab screen-fork-dialog.txt
tm send-keys -t s Enter
wait_for "✓  done" 60
wait_for "ack sent" 10
grab screen-session.txt
# Enter: the detail and the whole guest log in the viewer; G: its end.
tm send-keys -t s Enter
wait_for "▸session web-" 5
tm send-keys -t s G
wait_for "ack sent" 5
grab screen-log.txt
tm send-keys -t s q 1 h h /
tm send-keys -t s BSpace BSpace BSpace BSpace BSpace
tm send-keys -t s -l slow-ack
tm send-keys -t s Enter
wait_for "Markers · slow-ack" 30
wait_for "✓ JSON object" 30
tm send-keys -t s f
wait_for "fork name: slow-ack-" 5
tm send-keys -t s Enter
wait_for "s left (deadline" 30
grab screen-countdown.txt
wait_for "✓  done" 30
tm send-keys -t s 1 / BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace
tm send-keys -t s -l silent
tm send-keys -t s Enter
wait_for "Markers · silent" 30
wait_for "✓ JSON object" 30
tm send-keys -t s f
wait_for "fork name: silent-" 5
tm send-keys -t s Enter
wait_for "guest.log (kept: the fork was rolled back)" 30
grab screen-failed.txt
# A 12-fork fan-out of web at 80×24, its detail scrolled to the summary.
tm resize-window -t s -x 80 -y 24
tm send-keys -t s 1 / BSpace BSpace BSpace BSpace BSpace BSpace
tm send-keys -t s -l web
tm send-keys -t s Enter
wait_for "Markers · web" 30
tm send-keys -t s f
wait_for "fork name: web-" 5
for _ in $(seq 1 20); do tm send-keys -t s BSpace; done
tm send-keys -t s -l fan
tm send-keys -t s Tab BSpace
tm send-keys -t s -l 12
wait_for "fan-out: fan-0 … fan-11" 5
tm send-keys -t s Enter
wait_for "12/12" 60
tm send-keys -t s l G
wait_for "12 of 12 done" 10
grab screen-fanout-80x24.txt
