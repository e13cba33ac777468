#!/usr/bin/env bash
# bench-insns.sh — user-space instructions per op of one Go benchmark,
# counted exactly by valgrind's callgrind, for machines whose perf has no
# hardware counters (a VM without a PMU: `perf stat -e instructions:u`
# reads "<not supported>"). The count does not move with the machine's
# load, so a change to a hot function can be judged in one run of each
# side (docs/performance.md, "User instructions per command (2026-12-04)").
#
# Usage: scripts/bench-insns.sh PKG|TESTBIN BENCH [N]
#
# PKG is a package directory (./internal/mailgen: its test binary is
# built first), or TESTBIN a test binary built with `go test -c` (e.g. of
# another checkout, to compare). BENCH is a benchmark's name, with or
# without "Benchmark" (NewInbound: ^BenchmarkNewInbound$, so no
# sub-benchmarks). N is the number of ops to count (default 2000).
#
# It runs the benchmark under callgrind twice, -test.benchtime 1x and Nx
# (testing runs one op first in both), and prints one line:
#   BenchmarkBENCH insns/op X (N ops)
# X = (instructions of the Nx run - those of the 1x run) / N: the start-up,
# the test binary's init and the first op cancel out. The runs use one P
# and no asynchronous preemption (callgrind does not follow Go's
# preemption signals), so the count includes the GC's work the ops cause
# but no scheduler spinning. Needs valgrind (apt-get install valgrind).
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 PKG|TESTBIN BENCH [N]" >&2
	exit 2
fi
target=$1 bench=Benchmark${2#Benchmark} n=${3:-2000}
if ! [ "$n" -gt 1 ] 2>/dev/null; then
	echo "bench-insns: N must be a number above 1" >&2
	exit 2
fi
command -v valgrind >/dev/null || {
	echo "bench-insns: valgrind is not installed" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -f "$target" ] && [ -x "$target" ]; then
	bin=$target
else
	bin=$tmp/pkg.test
	go test -c -o "$bin" "$target"
fi
count() { # count OPS: the instructions of a run of OPS ops
	GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind \
		--callgrind-out-file=/dev/null "$bin" -test.run '^$' \
		-test.bench "^$bench\$" -test.benchtime "${1}x" -test.cpu 1 \
		>"$tmp/out.$1" 2>&1 || {
		cat "$tmp/out.$1" >&2
		return 1
	}
	awk '/Collected :/ {print $NF}' "$tmp/out.$1"
}
one=$(count 1)
many=$(count "$n")
if [ -z "$one" ] || [ -z "$many" ] || ! grep -q "^$bench[[:space:]]" "$tmp/out.$n"; then
	echo "bench-insns: no count for $bench (does it exist?):" >&2
	cat "$tmp/out.$n" >&2
	exit 1
fi
awk -v a="$one" -v b="$many" -v n="$n" -v name="$bench" \
	'BEGIN { printf "%s insns/op %.0f (%d ops)\n", name, (b - a) / n, n }'
