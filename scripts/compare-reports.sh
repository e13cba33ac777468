#!/usr/bin/env bash
# compare-reports.sh — does the same seed still give the same report?
#
# Builds mailsim at a revision (the "before", default 02c9d9c, the start of
# issue 15's restructuring) and from the working tree (the "after"), runs
# each scenario with the same seed RUNS times with each binary against the
# embedded server, and compares every count of the JSON reports (integer
# and boolean fields; timing fields aside: started_at, *_seconds, *_ms,
# *_s, latency and lag histograms, the convergence histogram and the
# timeline; and ratios, per-user figures and threshold values, which are
# fractions that are only sometimes whole). A real run is not
# deterministic to the command — devices race the injector over real
# sockets and the wall clock ends the phases — so each count is classed:
#
#   same     equal in every run of both binaries
#   varies   differs between runs of one binary too (timing)
#   changed  equal in every run of each binary, but not between them
#
# and the rows that are not "same" are printed with every run's value.
# docs/architecture.md ("Behaviour kept") records a result and explains it.
#
# Usage:
#   scripts/compare-reports.sh [SCENARIO...]   (default: quickstart mobile-heavy pop3-vs-imap)
#   scripts/compare-reports.sh --dir DIR [SCENARIO...]
#       compare reports already in DIR (NAME-before-I.json, NAME-after-I.json)
#
# Environment (all optional):
#   CR_REV     the "before" revision (default 02c9d9c)
#   CR_RUNS    runs per scenario and binary (default 4: with 2, a count that
#              varies with timing is too often the same twice)
#   CR_FLAGS   flags of every run (default "--seed 7 --duration 15s --settle 5s --users 8")
#   CR_OUT     directory for binaries and reports (default: a new temp dir)
#   CR_ALL     1: print the "same" rows too
#
# Exit status: 0 when no count changed, 1 when one did (look at the rows:
# more runs, or a longer --settle in CR_FLAGS, tell timing at the end of
# the run from a change; a documented change explains it), 2 on a failed
# build or run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
REV=${CR_REV:-02c9d9c}
RUNS=${CR_RUNS:-4}
FLAGS=${CR_FLAGS:---seed 7 --duration 15s --settle 5s --users 8}
DIR=""
if [ "${1:-}" = "--dir" ]; then
	DIR=${2:?--dir needs a directory}
	shift 2
fi
SCENARIOS=("$@")
if [ ${#SCENARIOS[@]} -eq 0 ]; then
	SCENARIOS=(quickstart mobile-heavy pop3-vs-imap)
fi

if [ -z "$DIR" ]; then
	DIR=${CR_OUT:-$(mktemp -d /tmp/compare-reports.XXXXXX)}
	mkdir -p "$DIR"
	echo "reports and binaries in $DIR" >&2
	src="$DIR/src-before"
	rm -rf "$src"
	mkdir -p "$src"
	git -C "$ROOT" archive "$REV" | tar -x -C "$src"
	(cd "$src" && go build -o "$DIR/mailsim-before" ./cmd/mailsim) || exit 2
	rm -rf "$src"
	go build -o "$DIR/mailsim-after" ./cmd/mailsim || exit 2
	for s in "${SCENARIOS[@]}"; do
		for v in before after; do
			for i in $(seq 1 "$RUNS"); do
				echo "run $s $v $i" >&2
				# shellcheck disable=SC2086 # FLAGS is a list of flags
				if ! timeout 600 "$DIR/mailsim-$v" run "scenarios/$s.yaml" $FLAGS --quiet \
					--report "$DIR/$s-$v-$i.json" >"$DIR/$s-$v-$i.log" 2>&1; then
					# A run whose thresholds failed still wrote its report.
					[ -s "$DIR/$s-$v-$i.json" ] || { echo "run $s $v $i failed: $DIR/$s-$v-$i.log" >&2; exit 2; }
				fi
			done
		done
	done
fi

# counts FILE prints "key<TAB>value" for every count of the report FILE.
counts() {
	jq -r '
		paths(scalars) as $p
		| ($p | map(tostring) | join(".")) as $k
		| getpath($p) as $v
		| select($k | test("^(started_at|wall_seconds|simulated_seconds|timeline)|_seconds$|_ms$|_s$|(latency_histogram|lag_histogram|\\.histogram)\\.|ratio|_per_user|^thresholds\\.[0-9]+\\.value$") | not)
		| select(($v | type) == "boolean" or (($v | type) == "number" and ($v | floor) == $v))
		| "\($k)\t\($v)"' "$1"
}

changed=0
for s in "${SCENARIOS[@]}"; do
	files=()
	for v in before after; do
		for f in "$DIR/$s-$v-"*.json; do
			[ -e "$f" ] || { echo "no $s-$v reports in $DIR" >&2; exit 2; }
			files+=("$v:$f")
		done
	done
	tsv=$(for vf in "${files[@]}"; do
		counts "${vf#*:}" | sed "s|^|${vf%%:*}:${vf#*:}\t|"
	done)
	echo "== $s"
	awk -F'\t' -v all="${CR_ALL:-0}" '
		{
			if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
			if (!($1 in col)) { col[$1] = 1; cols[++m] = $1 }
			val[$2, $1] = $3
		}
		# row prints the values of key k in the runs of binary v ("-": absent).
		function row(k, v,   j, out, x) {
			out = ""
			for (j = 1; j <= m; j++) {
				if (index(cols[j], v ":") != 1) continue
				x = ((k, cols[j]) in val) ? val[k, cols[j]] : "-"
				out = out (out == "" ? "" : " ") x
			}
			return out
		}
		function uniq(list,   a, i, c) {
			c = split(list, a, " ")
			for (i = 2; i <= c; i++) if (a[i] != a[1]) return 0
			return 1
		}
		END {
			for (i = 1; i <= n; i++) {
				k = order[i]; b = row(k, "before"); a = row(k, "after")
				if (b == a && uniq(b)) { same++; if (all == 1) printf "  same     %s: %s\n", k, b; continue }
				if (uniq(b) && uniq(a)) { cls = "changed"; ch++ } else { cls = "varies"; va++ }
				printf "  %-8s %s: before [%s] after [%s]\n", cls, k, b, a
			}
			printf "  %d counts: %d same, %d vary between runs of one binary, %d changed\n", n, same + 0, va + 0, ch + 0
			exit (ch > 0)
		}' <<<"$tsv" || changed=1
done
exit "$changed"
