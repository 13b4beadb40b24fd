#!/bin/sh
# Build the C example as one static binary: ./build-example.sh OUT
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
${CC:-gcc} -std=gnu11 -static -O2 -s -Wall -Wextra -Werror -o "$1" "$here/example.c"
# The program file is in guest RAM too: it must hold no marker prefix.
if grep -q HYPEMAN_ "$1"; then
	echo "$0: $1 holds the bytes HYPEMAN_: a scan would find a stray marker" >&2
	exit 1
fi
