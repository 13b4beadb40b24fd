#!/bin/sh
# Build the Rust example as one static binary: ./build-example.sh OUT
# (glibc, statically linked: the x86_64-unknown-linux-gnu target with
# crt-static; no other toolchain needed).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
case $1 in /*) out=$1 ;; *) out=$(pwd)/$1 ;; esac
target=$(cd "$here/../.." && pwd)/target/guest-example
cd "$here"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release --locked \
	-p forkmail-guest-example --target x86_64-unknown-linux-gnu --target-dir "$target"
cp "$target/x86_64-unknown-linux-gnu/release/forkmail-guest-example" "$out"
# The program file is in guest RAM too: it must hold no marker prefix.
if grep -q HYPEMAN_ "$out"; then
	echo "$0: $out holds the bytes HYPEMAN_: a scan would find a stray marker" >&2
	exit 1
fi
