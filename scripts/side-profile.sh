#!/usr/bin/env bash
# side-profile.sh — one run of the side-by-side population
# (scripts/loadbench/imaptest-side.yaml, 20 users) against a fresh private
# Dovecot, for counting what a change saves per IMAP command: allocations,
# system calls, clock readings (docs/performance.md, issue 14's sections).
#
# Usage: scripts/side-profile.sh BIN OUTDIR [mailsim run flags...]
#
# It starts Dovecot (scripts/dovecot.sh, root) in OUTDIR/dc, runs BIN's
# "mailsim run" for DUR (default 20s) with the report in OUTDIR/r.json,
# stops Dovecot and prints one line:
#   cmds N user U sys S  us/cmd X (user Y sys Z)
# where N is the report's IMAP commands (.load.commands without the
# CONNECTs, plus the auditor's)
# and U, S the run's CPU seconds (the shell's "times" of its child).
# Environment: DUR (the active phase), PERF (a command prefix, e.g.
# PERF="perf stat -x, -o OUT/p.txt -e 'syscalls:sys_enter_*' --"), and the
# runtime's own (GODEBUG=memprofilerate=1 with --memprofile FILE counts every
# allocation). Divide a profile's total by N for a figure per command.
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 BIN OUTDIR [mailsim run flags...]" >&2
	exit 2
fi
# Absolute before the cd below: relative paths are the caller's.
BIN=$(realpath -m "$1")
OUT=$(realpath -m "$2")
shift 2
cd "$(dirname "$0")/.."
rm -rf "$OUT"
mkdir -p "$OUT"
chmod 755 "$OUT" # Dovecot's users traverse it
scripts/dovecot.sh start "$OUT/dc" 20 >"$OUT/dc.start" 2>&1
trap 'scripts/dovecot.sh stop "$OUT/dc" >/dev/null 2>&1 || true' EXIT
PORT=$(awk -F= '$1 == "IMAP_PORT" {print $2}' "$OUT/dc/env")
export MAILSIM_PASSWORD=pass SB_IMAP=127.0.0.1:$PORT SB_DURATION=${DUR:-20s}
(
	set +e
	# shellcheck disable=SC2086 # PERF is a command prefix of several words
	${PERF:-} "$BIN" run scripts/loadbench/imaptest-side.yaml --users 20 --quiet --report "$OUT/r.json" "$@" >"$OUT/out" 2>"$OUT/err"
	times >"$OUT/times"
)
cmds=$(jq '.load.commands - ([.commands[]?.CONNECT.count // 0] | add // 0) + ([.auditor_commands.imap // {} | .[].count] | add // 0)' "$OUT/r.json")
if ! [ "${cmds:-0}" -gt 0 ] 2>/dev/null; then
	echo "side-profile: the report counts no IMAP command; see $OUT/err" >&2
	exit 1
fi
awk -v c="$cmds" 'NR == 2 {
	split($1, u, /[ms]/); split($2, s, /[ms]/)
	us = u[1] * 60 + u[2]; sy = s[1] * 60 + s[2]
	printf "cmds %d user %.2f sys %.2f  us/cmd %.1f (user %.1f sys %.1f)\n", c, us, sy, (us + sy) * 1e6 / c, us * 1e6 / c, sy * 1e6 / c
}' "$OUT/times"
