#!/bin/sh
# run-check.sh: prove the guest libraries' examples under QEMU with
# `forkmail check`, end to end.
#
# For each example (C, Go, Rust): build it as one static binary, pack it into an
# image (`forkmail image build --program`), make a template that waits for
# its markers (`template create --vmm qemu --wait-for-marker`), and run
# `forkmail check` in copy and zero-copy modes: every required check must
# pass. Then for each fault (example.fault=MODE on the kernel command line)
# a template of the same image must fail `check` on exactly the rule the
# fault breaks (acks), every other check passing.
#
# Inputs (environment):
#   FORKMAIL      forkmail binary (default: forkmail on PATH)
#   WORK          a new or empty work directory, kept afterwards: store,
#                 JUnit XML, logs, summary.txt (default: from mktemp -d)
#   LANGS         examples to run (default: "c go rust")
#   FAULTS        failing variants (default: "no-ack ack-twice bad-ack";
#                 empty: none)
#   DEADLINE_MS   `check --vmm-timeout` (default 5000: TCG is slow)
#   MEMORY        guest memory (default 256M)
#   BOOT_TIMEOUT  `template create --boot-timeout`, s (default 900)
# Needs qemu-system-x86_64, gcc with a static libc, go (1.19+), and
# apt-get/dpkg for the image's Debian kernel and busybox.
# Exit status: 0 when every expectation holds, 1 when one does not, 2 on a
# usage or setup error. Prints (and writes to $WORK/summary.txt) one line
# per check run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
FORKMAIL=${FORKMAIL:-forkmail}
LANGS=${LANGS:-c go rust}
FAULTS=${FAULTS-no-ack ack-twice bad-ack}
DEADLINE_MS=${DEADLINE_MS:-5000}
MEMORY=${MEMORY:-256M}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/forkmail-guest-libs.XXXXXX")}
store=$WORK/store
mkdir -p "$WORK" || exit 2
: >"$WORK/summary.txt"
command -v "$FORKMAIL" >/dev/null || { echo "run-check: no forkmail binary ($FORKMAIL); set FORKMAIL" >&2; exit 2; }
failed=0

note() { echo "$*" | tee -a "$WORK/summary.txt"; }
run() { # run LOG CMD...: the command's output to LOG, echoed on failure
	log=$1
	shift
	echo "+ $*" >"$log"
	"$@" >>"$log" 2>&1 || { echo "run-check: failed: $*" >&2; tail -20 "$log" >&2; return 1; }
}

# template NAME IMAGE LANG [FAULT]: boot the image until its two markers are
# armed, and take the standby snapshot.
template() {
	append="quiet forkmail.mailbox=app.config:tok-$3 forkmail.mailbox=cfg:chosen-by-guest%20%E2%9C%93"
	[ -n "${4:-}" ] && append="$append example.fault=$4"
	run "$WORK/template-$1.log" "$FORKMAIL" template create "$1" --store "$store" --vmm qemu \
		--memory "$MEMORY" --boot-timeout "$BOOT_TIMEOUT" \
		--kernel "$store/images/$2/vmlinuz" --initrd "$store/images/$2/initrd.img" \
		--append "$append" --wait-for-marker "app.config:tok-$3" --wait-for-marker cfg --json
}

# check NAME MODE EXPECTED_FAILURES: run `forkmail check`, compare the failed
# required checks with EXPECTED_FAILURES ("" or e.g. "acks").
check() {
	flag=
	[ "$2" = zero-copy ] && flag=--zero-copy
	out=$WORK/check-$1-$2.jsonl
	"$FORKMAIL" check "$1" --store "$store" --vmm-timeout "$DEADLINE_MS" $flag --json \
		--junit "$WORK/junit-$1-$2.xml" >"$out" 2>"$WORK/check-$1-$2.err"
	status=$?
	# One object per check: {"check":"acks","rule":...,"verdict":"pass","required":true,...}
	verdicts=$(sed -n 's/^{"check":"\([a-z-]*\)".*"verdict":"\([a-z]*\)","required".*/\1=\2/p' "$out" | sort | tr '\n' ' ')
	fails=$(sed -n 's/^{"check":"\([a-z-]*\)".*"verdict":"fail","required":true.*/\1/p' "$out" | sort | tr '\n' ' ' | sed 's/ $//')
	want_status=0
	[ -n "$3" ] && want_status=8
	if [ "$(echo "$verdicts" | wc -w)" -eq 6 ] && [ "$fails" = "$3" ] && [ "$status" -eq "$want_status" ]; then
		note "ok    $1 $2: exit $status; $verdicts"
	else
		note "FAIL  $1 $2: exit $status (want $want_status), failed [$fails] (want [$3]); $verdicts"
		failed=1
	fi
}

for lang in $LANGS; do
	bin=$WORK/example-$lang
	case $lang in
	c) run "$WORK/build-c.log" "$here/c/build-example.sh" "$bin" || exit 1 ;;
	go) run "$WORK/build-go.log" "$here/go/build-example.sh" "$bin" || exit 1 ;;
	rust) run "$WORK/build-rust.log" "$here/rust/build-example.sh" "$bin" || exit 1 ;;
	*) echo "run-check: unknown example $lang (c, go or rust)" >&2; exit 2 ;;
	esac
	note "built $lang example: $(wc -c <"$bin") bytes"
	run "$WORK/image-$lang.log" "$FORKMAIL" image build --store "$store" --name "ex-$lang" \
		--program "$bin" --force || exit 1
	if template "ex-$lang" "ex-$lang" "$lang"; then
		check "ex-$lang" copy ""
		check "ex-$lang" zero-copy ""
	else
		note "FAIL  ex-$lang: template create failed (see $WORK/template-ex-$lang.log)"
		failed=1
	fi
	for fault in $FAULTS; do
		if template "ex-$lang-$fault" "ex-$lang" "$lang" "$fault"; then
			check "ex-$lang-$fault" copy acks
		else
			note "FAIL  ex-$lang-$fault: template create failed"
			failed=1
		fi
	done
done
note "work directory: $WORK"
exit $failed
