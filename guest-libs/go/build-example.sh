#!/bin/sh
# Build the Go example as one static binary: ./build-example.sh OUT
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
case $1 in /*) out=$1 ;; *) out=$(pwd)/$1 ;; esac
cd "$here"
CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off go build -trimpath -ldflags='-s -w' -o "$out" ./cmd/example
# The program file is in guest RAM too: it must hold no marker prefix.
if grep -q HYPEMAN_ "$out"; then
	echo "$0: $out holds the bytes HYPEMAN_: a scan would find a stray marker" >&2
	exit 1
fi
