#!/usr/bin/env bash
# imaptest-bench.sh — mailsim and dovecot/imaptest side by side: CPU per
# IMAP command of each load generator against the same Dovecot, one run.
#
# Usage: scripts/imaptest-bench.sh [CLIENTS [SECONDS]]   (default 20 clients, 20 s)
#
# For each tool it starts a fresh private Dovecot (scripts/dovecot.sh, users
# user1..userCLIENTS), runs the tool against it and measures:
#   - the tool's own CPU: user+system of the child process and everything
#     it waited for (the shell's "times" after the child ends: getrusage of
#     the children, so nothing is sampled or missed);
#   - the IMAP commands it sent: imaptest's "Totals" line (every command
#     column, LOGIN and LOGOUT included); mailsim's report .load.commands
#     (the devices' and the injector's IMAP commands, logins included)
#     without its CONNECTs (a connect and greeting, which imaptest does not
#     count as a command: docs/report.md, Command names) plus
#     .auditor_commands.imap (the auditor's reads of the server, whose CPU
#     is counted too);
#   - Dovecot's CPU over the run (dovecot.sh cpu).
# imaptest runs its load mode with no_pipelining (one command at a time per
# connection, as mailsim's devices send them), CLIENTS connections over
# CLIENTS users for SECONDS, appending from a generated mbox. mailsim runs
# scripts/loadbench/imaptest-side.yaml with --users CLIENTS (one polling IMAP
# PC per user, one connection each, mail delivered by IMAP APPEND) for
# SECONDS of active phase (plus 2 s settle and the final audit).
#
# It prints one row per tool, a line
#   ratio mailsim/imaptest CPU per command: R
# and how long mailsim's injector made deliveries wait for a connection
# (messages.delivery_queue: if it fell behind, mailsim sent fewer APPENDs).
# (docs/performance.md, "Side by side with imaptest").
#
# Environment (all optional):
#   MAILSIM_IMAPTEST  imaptest: its directory or the binary (default
#                     ../shared/tools/imaptest beside the repository, then
#                     imaptest on PATH); without one the script says so and
#                     exits 3 (skipped)
#   SB_OUT            directory for the instances, logs and reports (default:
#                     a new temp dir)
#   SB_TIME_SCALE     mailsim's time_scale (default 100 in the scenario): its
#                     command rate. CPU per command falls as the rate rises,
#                     so compare at about imaptest's rate: the script says
#                     when the two differ by more than 20 % and which
#                     SB_TIME_SCALE would match them
#   SB_DELIVERIES     the injector's connections (the scenario's
#                     max_parallel_deliveries, default 4): raise it when the
#                     injector falls behind at a higher SB_TIME_SCALE
#   SB_MAILSIM        a built mailsim binary (default: go build ./cmd/mailsim)
#   SB_IMAPTEST_ARGS  more imaptest settings, e.g. "logout=0"
#   SB_IMAP_CLIENT    the mailsim devices' IMAP client: lean (default) or
#                     goimap (the scenario's imap_client)
#   SB_ORDER          which tool runs first: imaptest (default) or mailsim
#                     (alternate it between runs: the machine's load drifts)
#   SB_MAILSIM_ARGS   more "mailsim run" flags, e.g. "--procs 2"
#   SB_PERF           1: run both tools under "perf stat" counting their
#                     system calls (every syscall tracepoint, reads that
#                     returned EAGAIN) and context switches, and print them
#                     per IMAP command after the table (docs/performance.md,
#                     "The round trip's own cost"); the CPU figures then
#                     include the counting's overhead. Needs perf and root.
#
# Needs root for Dovecot (scripts/dovecot.sh). Exit status: 0 done, 1 a run
# failed, 2 bad usage, 3 imaptest or Dovecot not available (skipped).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CLIENTS=${1:-20}
SECS=${2:-20}
for v in "$CLIENTS" "$SECS"; do
	if ! [[ $v =~ ^[0-9]+$ ]] || [ "$v" -lt 1 ] || [ "$v" -gt 10000 ]; then
		echo "imaptest-bench: usage: $0 [CLIENTS [SECONDS]] (integers 1..10000)" >&2
		exit 2
	fi
done

IMAPTEST=${MAILSIM_IMAPTEST:-$ROOT/../shared/tools/imaptest}
[ -d "$IMAPTEST" ] && IMAPTEST=$IMAPTEST/imaptest
if [ ! -x "$IMAPTEST" ]; then
	if [ -z "${MAILSIM_IMAPTEST:-}" ] && command -v imaptest >/dev/null; then
		IMAPTEST=$(command -v imaptest)
	else
		echo "imaptest-bench: skipped: no imaptest at $IMAPTEST (set MAILSIM_IMAPTEST to its directory or binary)" >&2
		exit 3
	fi
fi
if ! command -v dovecot >/dev/null && [ ! -x /usr/sbin/dovecot ]; then
	echo "imaptest-bench: skipped: Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd)" >&2
	exit 3
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "imaptest-bench: skipped: scripts/dovecot.sh needs root" >&2
	exit 3
fi

OUT=${SB_OUT:-$(mktemp -d /tmp/imaptest-bench.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT" # Dovecot's users traverse it
export MAILSIM_PASSWORD=${MAILSIM_PASSWORD:-pass}
export SB_IMAP_CLIENT=${SB_IMAP_CLIENT:-lean}
case $SB_IMAP_CLIENT in
goimap | lean) ;;
*)
	echo "imaptest-bench: SB_IMAP_CLIENT=$SB_IMAP_CLIENT: want goimap or lean" >&2
	exit 2
	;;
esac
echo "imaptest-bench: $CLIENTS clients, $SECS s each, mailsim's IMAP client $SB_IMAP_CLIENT; output in $OUT" >&2

BIN=${SB_MAILSIM:-}
if [ -z "$BIN" ]; then
	BIN=$OUT/mailsim
	go build -o "$BIN" ./cmd/mailsim
fi

DC=""
cleanup() {
	if [ -n "$DC" ]; then
		"$ROOT/scripts/dovecot.sh" stop "$DC" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# An mbox of 50 small messages for imaptest's APPEND.
MBOX=$OUT/append.mbox
: >"$MBOX"
for i in $(seq 1 50); do
	{
		echo "From sender@example.org Mon Jan  1 00:00:00 2024"
		echo "From: sender$i@example.org"
		echo "To: user@example.com"
		echo "Subject: imaptest-bench message $i"
		echo "Message-ID: <bench$i@example.org>"
		echo "Date: Mon, 1 Jan 2024 00:00:00 +0000"
		echo
		for _ in $(seq 1 $((20 + i * 3))); do echo "body line $i of an imaptest-bench message"; done
		echo
	} >>"$MBOX"
done

# start_dovecot NAME: a fresh instance in $OUT/NAME; sets DC and IMAP_PORT.
start_dovecot() {
	DC=$OUT/$1
	rm -rf "$DC"
	"$ROOT/scripts/dovecot.sh" start "$DC" "$CLIENTS" >"$OUT/$1.start" 2>&1 || {
		echo "imaptest-bench: Dovecot did not start: $(tail -n 3 "$OUT/$1.start")" >&2
		exit 1
	}
	IMAP_PORT=$(awk -F= '$1 == "IMAP_PORT" {print $2}' "$DC/env")
}

stop_dovecot() {
	"$ROOT/scripts/dovecot.sh" stop "$DC" >/dev/null 2>&1 || true
	DC=""
}

dovecot_cpu() { "$ROOT/scripts/dovecot.sh" cpu "$DC" | awk '{print $1}'; }

# child_cpu FILE CMD...: runs CMD in a subshell with its stdout and stderr
# in FILE.out and FILE.err and prints the CPU seconds (user+system) of CMD
# and everything it waited for, then CMD's exit status.
child_cpu() {
	local f=$1
	shift
	(
		set +e
		"$@" >"$f.out" 2>"$f.err"
		rc=$?
		# "times": this shell's user and system time, then its children's
		# (to a file: in a pipeline it would run in a new subshell without
		# children).
		times >"$f.times"
		awk -v rc="$rc" 'NR == 2 {
			split($1, u, /[ms]/); split($2, s, /[ms]/)
			printf "%.3f %d\n", u[1] * 60 + u[2] + s[1] * 60 + s[2], rc
		}' "$f.times"
	)
}

ROWS=()

# perf_cmd TOOL: the command prefix that counts TOOL's system calls into
# $OUT/TOOL.perf with SB_PERF=1, nothing otherwise (one word per line).
perf_cmd() {
	[ "${SB_PERF:-0}" = 1 ] || return 0
	printf '%s\n' perf stat -x, -o "$OUT/$1.perf" \
		-e 'raw_syscalls:sys_enter,syscalls:sys_enter_*,context-switches,task-clock' \
		-e syscalls:sys_exit_read --filter 'ret == -11' --
}
if [ "${SB_PERF:-0}" = 1 ] && ! command -v perf >/dev/null; then
	echo "imaptest-bench: SB_PERF=1 needs perf (apt-get install linux-perf)" >&2
	exit 2
fi

# run_imaptest: imaptest against a fresh Dovecot; appends its row to ROWS.
run_imaptest() {
	start_dovecot dovecot-imaptest
	d0=$(dovecot_cpu)
	mapfile -t perf < <(perf_cmd imaptest)
	read -r cpu rc < <(child_cpu "$OUT/imaptest" timeout --signal=INT --kill-after=10 $((SECS + 60)) \
		"${perf[@]}" "$IMAPTEST" host=127.0.0.1 port="$IMAP_PORT" user=user%d pass="$MAILSIM_PASSWORD" \
		users="$CLIENTS" clients="$CLIENTS" secs="$SECS" no_pipelining mbox="$MBOX" ${SB_IMAPTEST_ARGS:-})
	d1=$(dovecot_cpu)
	stop_dovecot
	if grep -q 'error while loading shared libraries' "$OUT/imaptest.err" "$OUT/imaptest.out"; then
		echo "imaptest-bench: skipped: imaptest cannot run here (it needs Dovecot's libdovecot: apt-get install dovecot-core)" >&2
		exit 3
	fi
	# The line of counts three lines after "Totals:" (header, percentages, the
	# second percentage line).
	cmds=$(awk '/^Totals:/ {t = NR} t && NR == t + 4 {s = 0; for (i = 1; i <= NF; i++) s += $i; print s}' "$OUT/imaptest.out")
	if [ "$rc" -ne 0 ] || [ -z "$cmds" ]; then
		echo "imaptest-bench: imaptest exited $rc without its totals; see $OUT/imaptest.out and .err" >&2
		exit 1
	fi
	ROWS+=("imaptest $cmds $cpu $(awk -v a="$d0" -v b="$d1" 'BEGIN {printf "%.2f", b - a}') $SECS")
}

# run_mailsim: mailsim against a fresh Dovecot; appends its row to ROWS.
run_mailsim() {
	start_dovecot dovecot-mailsim
	d0=$(dovecot_cpu)
	mapfile -t perf < <(perf_cmd mailsim)
	read -r cpu rc < <(SB_IMAP=127.0.0.1:$IMAP_PORT SB_DURATION=${SECS}s child_cpu "$OUT/mailsim" \
		timeout --signal=INT --kill-after=30 $((SECS + 120)) \
		"${perf[@]}" "$BIN" run "$ROOT/scripts/loadbench/imaptest-side.yaml" --users "$CLIENTS" --quiet --report "$OUT/mailsim.json" ${SB_MAILSIM_ARGS:-})
	d1=$(dovecot_cpu)
	stop_dovecot
	cmds=""
	[ -s "$OUT/mailsim.json" ] && cmds=$(jq '.load.commands - ([.commands[]?.CONNECT.count // 0] | add // 0) + ([.auditor_commands.imap // {} | .[].count] | add // 0)' "$OUT/mailsim.json")
	if { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; } || [ -z "$cmds" ]; then
		echo "imaptest-bench: mailsim run exited $rc; see $OUT/mailsim.err" >&2
		exit 1
	fi
	# Its commands span the whole run, settle and the injector's drain
	# included: its rate is over the report's wall time (which leaves out
	# the final audit's read, whose few commands count: docs/report.md).
	wall=$(jq '.wall_seconds // 0' "$OUT/mailsim.json")
	ROWS+=("mailsim $cmds $cpu $(awk -v a="$d0" -v b="$d1" 'BEGIN {printf "%.2f", b - a}') $wall")
}

# The tools run in SB_ORDER (imaptest first by default); the rows print in
# that order, the ratio is the same.
case ${SB_ORDER:-imaptest} in
imaptest) run_imaptest; run_mailsim ;;
mailsim) run_mailsim; run_imaptest ;;
*)
	echo "imaptest-bench: SB_ORDER=$SB_ORDER: want imaptest or mailsim" >&2
	exit 2
	;;
esac

printf '\n%-8s %9s %8s %9s %12s %10s %12s\n' tool commands cmds/s cpu-s µs/command dovecot-s µs/command
for r in "${ROWS[@]}"; do
	awk '{printf "%-8s %9d %8.0f %9.2f %12.1f %10.2f %12.1f\n", $1, $2, ($5 > 0 ? $2 / $5 : 0), $3, ($2 ? $3 * 1e6 / $2 : 0), $4, ($2 ? $4 * 1e6 / $2 : 0)}' <<<"$r"
done
awk -v a="${ROWS[0]}" -v b="${ROWS[1]}" -v ts="${SB_TIME_SCALE:-100}" 'BEGIN {
	if (a ~ /^imaptest /) { split(a, i, " "); split(b, m, " ") } else { split(b, i, " "); split(a, m, " ") }
	if (i[2] > 0 && m[2] > 0 && i[3] > 0)
		printf "ratio mailsim/imaptest CPU per command: %.2f\n", (m[3] / m[2]) / (i[3] / i[2])
	else
		print "ratio mailsim/imaptest CPU per command: unknown (a tool sent no command or used no measurable CPU)"
	# CPU per command falls as the rate rises (a wake-up, a poll and a
	# context switch serve more commands), so the ratio is like for like
	# only at about the same rate. imaptest runs as fast as Dovecot lets it;
	# mailsim at the rate its scenario asks for.
	mr = (m[5] > 0 ? m[2] / m[5] : 0); ir = (i[5] > 0 ? i[2] / i[5] : 0)
	if (mr > 0 && ir > 0 && (mr / ir > 1.2 || ir / mr > 1.2))
		printf "note: the rates differ (mailsim %.0f commands/s over its %.1f s run, imaptest %.0f over %d s): the ratio is not like for like; SB_TIME_SCALE=%.0f would about match them if mailsim keeps up\n", mr, m[5], ir, i[5], ts * ir / mr
}'
# mailsim's injector: whether it kept up with the scenario's arrivals (a
# saturated injector sends fewer APPENDs and its commands' mix differs:
# docs/report.md, "Deliveries").
if [ -s "$OUT/mailsim.json" ]; then
	jq -r '.messages.delivery_queue // empty |
		"mailsim injector: waited for a connection p50 \(.wait_p50_s * 1000 | floor) ms, p99 \(.wait_p99_s * 1000 | floor) ms; \(.backlog) queued at the end of the active phase, drained in \(.drain_s * 10 | floor / 10) s\(if .drain_cut then " (drain cut)" else "" end)"' "$OUT/mailsim.json"
fi
if [ "${SB_PERF:-0}" = 1 ]; then
	# Per IMAP command: the system calls that make a round trip, the rest
	# together, the reads that returned EAGAIN and the context switches.
	echo
	printf '%-20s %10s %10s\n' "per command" "${ROWS[0]%% *}" "${ROWS[1]%% *}"
	for r in "${ROWS[@]}"; do
		set -- $r
		awk -F, -v tool="$1" -v n="$2" '$1 ~ /^[0-9]+$/ && $3 != "" {
			e = $3; sub(/^syscalls:sys_enter_/, "", e)
			if (e == "syscalls:sys_exit_read") e = "read EAGAIN"
			if (e == "raw_syscalls:sys_enter") e = "all syscalls"
			if (e == "epoll_wait" || e == "epoll_pwait") e = "epoll_(p)wait"
			if (e ~ /^(all syscalls|read|read EAGAIN|write|epoll_\(p\)wait|epoll_ctl|futex|nanosleep|setsockopt|connect|context-switches)$/) c[e] += $1
			else if (e != "task-clock" && e != "cpu-migrations") c["other syscalls"] += $1
		} END { for (e in c) printf "%s\t%s\t%.2f\n", e, tool, c[e] / n }' "$OUT/$1.perf"
	done | awk -F'\t' -v a="${ROWS[0]%% *}" '{ v[$1, $2] = $3; k[$1] = 1; t[$2] = 1 }
		END { for (e in k) { b = ""; for (x in t) if (x != a) b = x; printf "%-20s %10s %10s\n", e, v[e, a], v[e, b] } }' | sort
fi

cat <<EOF

commands   IMAP commands sent (imaptest: Totals, every column; mailsim: report .load.commands - CONNECTs + .auditor_commands.imap)
cmds/s     commands / the seconds they were sent in (imaptest: SECONDS; mailsim: its report's wall_seconds, settle and drain included, the final audit's read not)
cpu-s      the tool's process CPU (user+system), whole run; µs/command = cpu-s / commands
dovecot-s  CPU of the tool's fresh Dovecot instance over the run; µs/command likewise
logs, reports and instances: $OUT
EOF
