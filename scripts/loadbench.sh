#!/usr/bin/env bash
# loadbench.sh — how large a population one mailsim process holds.
#
# Usage: scripts/loadbench.sh [DEVICES...]        (default: 1000 5000 10000 20000)
#
# For each population step it starts the embedded mail server alone
# ("mailsim serve", a second process, so harness and server memory are
# separable) on loopback ports with DEVICES/2 users (DEVICES/LB_DEVICES_PER_USER), runs
# "mailsim run scripts/loadbench/idle-phones.yaml --users DEVICES/2 --quiet"
# against it (every user: an IDLE phone and a polling PC), samples both
# processes' memory (VmRSS/VmHWM), CPU (utime+stime) and open files from
# /proc, and prints one row per step:
#
#   devices users conns harness-peak-RSS KiB/device server-RSS commands
#   harness-CPU µs/command server-CPU errors
#
# Environment (all optional):
#   LB_SCENARIO   scenario file (default scripts/loadbench/idle-phones.yaml)
#   LB_DEVICES_PER_USER  devices per user in LB_SCENARIO (default 2;
#                 scripts/loadbench/idle-imap.yaml has 1): users = DEVICES / it
#   LB_DURATION   active phase, wall (default 90s; includes LB_RAMP_UP)
#   LB_RAMP_UP    ramp-up, wall (default 45s)
#   LB_INBOUND    mean interval of inbound mail per user, simulated (default 15m)
#   LB_STEP_TIMEOUT  hard bound of one run, seconds (default 240)
#   LB_OUT        directory for reports, logs and samples (default: a new temp dir)
#   LB_HARNESS_PROCS  GOMAXPROCS of the harness only (default: unset, Go's own)
#   LB_HARNESS_FLAGS  more flags for "mailsim run", e.g. "--metrics-addr
#                 127.0.0.1:9464 --linger 0" to take profiles from /debug/pprof/
#                 during the run (docs/performance.md)
#   GOGC, GOMEMLIMIT  passed to both processes as usual
#
# Exit status: 0 when every step finished, 1 otherwise (the table still shows
# the steps that ran; the logs in LB_OUT say why one failed).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
STEPS=("$@")
if [ ${#STEPS[@]} -eq 0 ]; then
	STEPS=(1000 5000 10000 20000)
fi
for s in "${STEPS[@]}"; do
	if ! [[ $s =~ ^[0-9]+$ ]] || [ "$s" -lt 2 ]; then
		echo "loadbench: population step $s: want a number of devices >= 2" >&2
		exit 2
	fi
done

SCENARIO=${LB_SCENARIO:-$ROOT/scripts/loadbench/idle-phones.yaml}
PER_USER=${LB_DEVICES_PER_USER:-2}
if ! [[ $PER_USER =~ ^[1-9][0-9]*$ ]]; then
	echo "loadbench: LB_DEVICES_PER_USER=$PER_USER: want a positive integer" >&2
	exit 2
fi
STEP_TIMEOUT=${LB_STEP_TIMEOUT:-240}
OUT=${LB_OUT:-$(mktemp -d /tmp/loadbench.XXXXXX)}
mkdir -p "$OUT"
export MAILSIM_PASSWORD=${MAILSIM_PASSWORD:-pass}
export LB_DURATION=${LB_DURATION:-90s} LB_RAMP_UP=${LB_RAMP_UP:-45s} LB_INBOUND=${LB_INBOUND:-15m}

# Open files: as many as allowed (every IMAP device connection is a socket
# in the harness and another in the server).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "loadbench: open files limit $(ulimit -n) (hard $(ulimit -Hn)); output in $OUT" >&2

BIN=$OUT/mailsim
go build -o "$BIN" ./cmd/mailsim

TICK=$(getconf CLK_TCK)
SERVER_PID=""
HARNESS_PID=""
SAMPLER_PID=""
cleanup() {
	for p in "$SAMPLER_PID" "$HARNESS_PID" "$SERVER_PID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu_ticks PID: utime+stime of PID in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the parenthesised command name).
cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	set -- $stat
	echo $((${12} + ${13}))
}

# kib FIELD PID: a /proc/PID/status field in KiB.
kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$2/status" 2>/dev/null; }

# sample HPID SPID FILE: every 0.5 s one line "t_ms h_rss h_hwm h_ticks h_fds
# s_rss s_hwm s_ticks s_fds" while the harness lives.
sample() {
	local h=$1 s=$2 f=$3 t0
	t0=$(date +%s%N)
	while kill -0 "$h" 2>/dev/null; do
		local hr hh ht hf sr sh st sf
		hr=$(kib VmRSS "$h") hh=$(kib VmHWM "$h") ht=$(cpu_ticks "$h") || break
		# An exiting process has a stat but no memory fields any more.
		[ -n "$hr" ] && [ -n "$hh" ] && [ -n "$ht" ] || break
		hf=$(ls "/proc/$h/fd" 2>/dev/null | wc -l)
		sr=$(kib VmRSS "$s") sh=$(kib VmHWM "$s") st=$(cpu_ticks "$s") || st=0
		sf=$(ls "/proc/$s/fd" 2>/dev/null | wc -l)
		echo "$((($(date +%s%N) - t0) / 1000000)) $hr $hh $ht $hf $sr $sh $st $sf" >>"$f"
		sleep 0.5
	done
}

ROWS=()
FAILED=0
for devices in "${STEPS[@]}"; do
	users=$((devices / PER_USER))
	dir=$OUT/step-$devices
	mkdir -p "$dir"
	echo "loadbench: step $devices devices ($users users)" >&2

	"$BIN" serve --users "$users" --imap 127.0.0.1:0 --pop3 127.0.0.1:0 --smtp 127.0.0.1:0 \
		--lmtp 127.0.0.1:0 >"$dir/serve.out" 2>"$dir/serve.err" &
	SERVER_PID=$!
	for _ in $(seq 1 600); do
		grep -q '^ready' "$dir/serve.out" 2>/dev/null && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^ready' "$dir/serve.out"; then
		echo "loadbench: mailsim serve did not start; see $dir/serve.err" >&2
		FAILED=1
		break
	fi
	addr() { awk -v p="$1" '$1 == p {print $2}' "$dir/serve.out"; }
	export LB_IMAP=$(addr imap) LB_POP3=$(addr pop3) LB_SMTP=$(addr smtp) LB_LMTP=$(addr lmtp)
	srv_ticks0=$(cpu_ticks "$SERVER_PID")
	srv_rss0=$(kib VmRSS "$SERVER_PID")

	set +e
	timeout --signal=INT --kill-after=30 "$STEP_TIMEOUT" env ${LB_HARNESS_PROCS:+GOMAXPROCS=$LB_HARNESS_PROCS} "$BIN" run "$SCENARIO" --users "$users" --quiet \
		--report "$dir/report.json" ${LB_HARNESS_FLAGS:-} >"$dir/run.out" 2>"$dir/run.err" &
	HARNESS_PID=$!
	# timeout forks the harness: sample the mailsim process itself.
	hpid=""
	for _ in $(seq 1 50); do
		hpid=$(pgrep -P "$HARNESS_PID" -x mailsim || true)
		[ -n "$hpid" ] && break
		sleep 0.1
	done
	: >"$dir/samples.txt"
	if [ -n "$hpid" ]; then
		sample "$hpid" "$SERVER_PID" "$dir/samples.txt" &
		SAMPLER_PID=$!
	fi
	wait "$HARNESS_PID"
	rc=$?
	HARNESS_PID=""
	[ -n "$SAMPLER_PID" ] && wait "$SAMPLER_PID" 2>/dev/null
	SAMPLER_PID=""
	set -e

	srv_ticks1=$(cpu_ticks "$SERVER_PID" || echo "$srv_ticks0")
	srv_hwm=$(kib VmHWM "$SERVER_PID")
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""

	# Harness peak RSS and CPU: the highest VmHWM and utime+stime sampled
	# (the last full sample, up to 0.5 s before the process ended).
	colmax() { awk -v c="$1" 'BEGIN{m=0} NF==9 && $c+0>m{m=$c+0} END{print m}' "$dir/samples.txt"; }
	h_hwm=$(colmax 3) h_ticks=$(colmax 4) h_fds=$(colmax 5) s_fds=$(colmax 9)
	cmds=0 errs=0 held=0
	if [ -s "$dir/report.json" ]; then
		cmds=$(jq '.load.commands - ([.commands[]?.CONNECT.count // 0] | add // 0)' "$dir/report.json")
		errs=$(jq '.load.errors' "$dir/report.json")
		held=$(jq '[.timeline[].connections] + [0] | max' "$dir/report.json")
	else
		FAILED=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
		# 1 = broken thresholds (the scenario has none); anything else is
		# a failure, but a step that wrote its report is still measured.
		echo "loadbench: step $devices: mailsim run exited $rc: $(tail -n 3 "$dir/run.err" | grep -m1 'mailsim run:' || true)" >&2
		[ "$rc" -eq 4 ] && [ -s "$dir/report.json" ] || FAILED=1
	fi
	row=$(awk -v d="$devices" -v u="$users" -v held="$held" -v hf="$h_fds" -v sf="$s_fds" \
		-v hh="${h_hwm:-0}" -v sr0="${srv_rss0:-0}" -v sh="${srv_hwm:-0}" \
		-v ht="${h_ticks:-0}" -v st="$((srv_ticks1 - srv_ticks0))" -v tick="$TICK" \
		-v c="$cmds" -v e="$errs" -v rc="$rc" 'BEGIN {
		hcpu = ht / tick; scpu = st / tick
		printf "%7d %6d %6d %6d %6d %8.0f %6.1f %8.0f %6.1f %9d %8.1f %6.1f %8.1f %6.1f %6d %3d",
			d, u, held, hf, sf, hh/1024, hh/d, sh/1024, (sh-sr0)/d, c, hcpu, (c ? hcpu*1e6/c : 0),
			scpu, (c ? scpu*1e6/c : 0), e, rc
	}')
	ROWS+=("$row")
	echo "$row" >>"$OUT/table.txt"
	[ "$FAILED" -eq 0 ] || break
done

printf '\n%7s %6s %6s %6s %6s %8s %6s %8s %6s %9s %8s %6s %8s %6s %6s %3s\n' \
	devices users conns h-fds s-fds h-MiB KiB/d s-MiB KiB/d commands h-cpu-s µs/cmd s-cpu-s µs/cmd errors rc
for r in "${ROWS[@]}"; do
	echo "$r"
done
cat <<EOF

devices  simulated devices (users x LB_DEVICES_PER_USER; idle-phones: an IDLE phone and a polling PC)
conns    peak open client connections (harness's count); h-fds/s-fds: peak open files
h-MiB    harness peak RSS (VmHWM); KiB/d = h-MiB*1024/devices
s-MiB    server peak RSS (VmHWM); KiB/d = (peak - RSS before the run)/devices (includes stored mail)
commands client commands of the run (report .load.commands without CONNECTs: protocol commands); errors: failed ones
h-cpu-s  harness CPU (utime+stime, whole run incl. final audit); µs/cmd = CPU / commands; s-cpu-s: server, same
rc       mailsim run exit code (0 ok, 1 thresholds, 4 failed late, e.g. in the final audit: still measured)
reports, logs and samples: $OUT
EOF
exit "$FAILED"
