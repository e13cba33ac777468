#!/usr/bin/env bash
# dovecot.sh — a private, self-contained Dovecot 2.3 instance for mailsim
# tests, CI and baselines.
#
#   dovecot.sh start DIR [NUSERS]   start an instance in DIR (default 10 users)
#   dovecot.sh stop DIR             stop exactly the instance in DIR
#   dovecot.sh cpu DIR              print "CPU_SECONDS PROCESS_COUNT"
#   dovecot.sh env DIR              print the KEY=VALUE lines of a running instance
#   dovecot.sh restart DIR          stop the instance in DIR and start it again
#   dovecot.sh freeze DIR           SIGSTOP the instance's master and children
#   dovecot.sh thaw DIR             SIGCONT them
#
# Everything (config, sockets, state, log, maildirs) lives under DIR; the
# system configuration in /etc/dovecot and systemd are not used. Every
# listener binds 127.0.0.1 only.
#
# start: users user1..userNUSERS with password $MAILSIM_PASSWORD (default
# "pass") in a passwd-file; maildir under DIR/mail. Ports come from
# IMAP_PORT, POP3_PORT, LMTP_PORT, METRICS_PORT when set, otherwise free
# loopback ports are picked (and re-picked if Dovecot cannot bind them).
# On success it prints KEY=VALUE lines (also written to DIR/env):
# DIR CONF PID NUSERS PASSWORD IMAP_PORT POP3_PORT LMTP_PORT METRICS_PORT
# IMAP_ADDR POP3_ADDR LMTP_ADDR METRICS_URL LOG.
# IMAP_PROCESS_LIMIT (default 4096) caps the IMAP sessions Dovecot serves at
# once (service imap's process_limit): a server with a known limit, for
# mailsim capacity tests.
# NAMESPACE_PREFIX (default "") and NAMESPACE_SEPARATOR (default "/") make
# the personal namespace a server dialect's: NAMESPACE_PREFIX=INBOX.
# NAMESPACE_SEPARATOR=. is Cyrus's and Courier's default (folders are
# INBOX.Sent, INBOX.Junk, ...; CREATE outside the prefix is refused).
# SPECIAL_USE=no lists the Drafts, Sent, Trash, Junk and Archive folders
# without their special-use attributes (as Courier does): clients find
# them by name.
# POP3_NO_FLAG_UPDATES=yes: a POP3 download leaves the message unread
# (not \Seen), as Cyrus does by default.
# PUBLIC_NAMESPACE=yes adds a public namespace, prefix "Public" and the
# separator, listed with the user's folders, maildir under DIR/public and
# writable by every user: shared folders that are no user's own mail.
# Needs root: Dovecot drops privileges to the dovecot/dovenull users and to
# MAIL_USER (default "vmail", created as a system user when missing), so
# DIR and its parents must be traversable by those users.
#
# stop: signals the master pid from DIR/run/master.pid (never a process
# name), waits for the master and every process it had started to exit,
# and kills leftovers by pid after 15 s.
#
# cpu: user+system CPU seconds used so far by the master and its live
# descendants, including children they have reaped; take the difference of
# two readings.
#
# restart: stop, then start again in DIR with the ports, users (the
# passwd-file DIR/etc/users as it is now, entries added since start
# included) and mail of the last start, read from DIR/env. Prints the new
# KEY=VALUE lines (a new PID). For fault tests: mail delivered before the
# restart is still there after it.
#
# freeze: SIGSTOP to the master pid from DIR/run/master.pid, then to every
# process it started (the master first, so it starts no new ones), for
# fault tests of a server that hangs. thaw: SIGCONT to the master and every
# process below it. Both act on that process tree only, never by name.
#
# Requires: apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd
set -euo pipefail

PROG=${0##*/}

usage() {
	echo "usage: $PROG start DIR [NUSERS] | stop DIR | restart DIR | freeze DIR | thaw DIR | cpu DIR | env DIR" >&2
	exit 2
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

# proc_table prints "pid ppid ticks" for every process, from one pass over
# /proc (ticks = utime+stime+cutime+cstime).
proc_table() {
	# cat, not awk FILE...: processes may exit between glob and read
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '
		{
			pid = $1
			line = $0
			sub(/.*\) /, "", line)   # drop "pid (comm) ": fields from state on
			split(line, f, " ")
			print pid, f[2], f[12] + f[13] + f[14] + f[15]
		}'
}

# tree ROOT prints "pid ticks" for ROOT and all its descendants.
tree() {
	proc_table | awk -v root="$1" '
		{ parent[$1] = $2; ticks[$1] = $3 }
		END {
			keep[root] = 1; n = 1
			while (n > 0) {
				n = 0
				for (p in parent)
					if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; n++ }
			}
			for (p in keep) if (p in parent) print p, ticks[p]
		}'
}

# master_pid DIR prints the live master pid of the instance in DIR, or fails.
master_pid() {
	local pidfile=$1/run/master.pid pid
	[ -s "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	running "$pid" || return 1
	echo "$pid"
}

# running PID succeeds while the process exists and is not a zombie.
running() {
	local st
	st=$(sed -e 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# used_ports prints the local TCP ports in use (any state, IPv4 and IPv6).
used_ports() {
	local hex
	{ cat /proc/net/tcp /proc/net/tcp6 2>/dev/null || true; } |
		awk '$2 ~ /:/ { n = split($2, a, ":"); print a[n] }' |
		while read -r hex; do echo $((16#$hex)); done | sort -un
}

# free_port prints a loopback port that no socket uses now, outside the
# ephemeral range, and different from the ports given as arguments.
free_port() {
	local used port i
	used=" $(used_ports | tr '\n' ' ') $* "
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + RANDOM % 12000))
		case $used in *" $port "*) continue ;; esac
		echo "$port"
		return 0
	done
	die "no free port found"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# system_user NAME [useradd options...] creates the system user NAME
# without a home or shell (with its own group unless the options name
# one), unless it exists.
system_user() {
	local name=$1
	shift
	getent passwd "$name" >/dev/null && return 0
	[ $# -gt 0 ] || set -- --user-group
	useradd --system "$@" --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$name" 2>/dev/null ||
		getent passwd "$name" >/dev/null ||
		die "cannot create user $name"
}

# unpack_debs PREFIX PACKAGE... downloads the Debian packages (not
# installed: cyrus.sh and courier.sh run servers that conflict with
# Dovecot's packages) and unpacks them into PREFIX.
unpack_debs() {
	local prefix=$1 tmp p
	shift
	tmp=$(mktemp -d)
	chmod 0755 "$tmp"
	(cd "$tmp" && apt-get download "$@") >&2 || {
		rm -rf "$tmp"
		die "apt-get download $* failed (run apt-get update?)"
	}
	mkdir -p "$prefix"
	for p in "$tmp"/*.deb; do
		dpkg -x "$p" "$prefix"
	done
	rm -rf "$tmp"
}

# special_folders prints the namespace's mailbox sections: Drafts, Sent,
# Trash, Junk and Archive, auto-subscribed, with their special_use
# attribute unless SPECIAL_USE=no.
special_folders() {
	local f
	for f in Drafts Sent Trash Junk Archive; do
		echo "  mailbox $f {"
		[ "${SPECIAL_USE:-yes}" = no ] || echo "    special_use = \\$f"
		echo "    auto = subscribe"
		echo "  }"
	done
}

# public_namespace prints the public namespace section when
# PUBLIC_NAMESPACE=yes.
public_namespace() {
	[ "${PUBLIC_NAMESPACE:-no}" = yes ] || return 0
	local sep=${NAMESPACE_SEPARATOR:-/}
	cat <<EOF
namespace public {
  type = public
  prefix = Public$sep
  separator = $sep
  location = maildir:$DIR/public
  list = yes
  subscriptions = no
}
EOF
}

render_conf() {
	cat <<EOF
# mailsim's private Dovecot 2.3 instance, rendered by scripts/dovecot.sh.
# Nothing here touches /etc/dovecot or the system instance; every listener
# is on 127.0.0.1.

instance_name = mailsim-$INSTANCE_ID
base_dir = $DIR/run
state_dir = $DIR/state
log_path = $DIR/log/dovecot.log
info_log_path = $DIR/log/dovecot.log
debug_log_path = $DIR/log/dovecot.log

protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# "user1@example.com" (LMTP recipients, logins with a domain) is user1
auth_username_format = %Ln

default_internal_user = dovecot
default_login_user = dovenull
default_process_limit = 100
default_client_limit = 10000
default_vsz_limit = 256M

# ---- users: user1..userN from a passwd-file, one static mail uid
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/etc/users
}
userdb {
  driver = static
  args = uid=$MAIL_USER gid=$MAIL_USER home=$DIR/mail/%u
}
first_valid_uid = 1
first_valid_gid = 1

# ---- storage: maildir, the special-use folders the embedded server has
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  prefix = ${NAMESPACE_PREFIX:-}
  separator = ${NAMESPACE_SEPARATOR:-/}
$(special_folders)
}
$(public_namespace)

# ---- protocols
protocol imap {
  mail_max_userip_connections = 10000
}
protocol pop3 {
  mail_max_userip_connections = 10000
  pop3_uidl_format = %08Xu%08Xv
  pop3_no_flag_updates = ${POP3_NO_FLAG_UPDATES:-no}
}
# LMTP to user+Folder delivers into Folder
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
lda_mailbox_autocreate = yes
lda_mailbox_autosubscribe = yes

# ---- services: TCP listeners on 127.0.0.1 only
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 1
  client_limit = 10000
  vsz_limit = 1G
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 0
  process_min_avail = 1
  client_limit = 10000
  vsz_limit = 1G
}
service imap {
  process_limit = ${IMAP_PROCESS_LIMIT:-4096}
}
service pop3 {
  process_limit = 4096
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
  process_limit = 256
}
service auth {
  client_limit = 20000
}
service anvil {
  client_limit = 20000
}
service stats {
  client_limit = 20000
  inet_listener http {
    address = 127.0.0.1
    port = $METRICS_PORT
  }
}

# ---- OpenMetrics: GET http://127.0.0.1:$METRICS_PORT/metrics
# A counting metric exports dovecot_<name>_total and
# dovecot_<name>_duration_seconds_total (sum of durations), one row per
# value of each group_by prefix (so {cmd_name} rows are the sums of their
# {cmd_name,tagged_reply_state} rows), plus an ungrouped _count/_sum.
# A metric grouped by duration:exponential:2:7:10 exports a histogram
# dovecot_<name>_bucket/_sum/_count with buckets 100 us .. 10 s.
metric imap_command {
  filter = event=imap_command_finished
  group_by = cmd_name tagged_reply_state
}
metric imap_command_latency {
  filter = event=imap_command_finished
  group_by = cmd_name duration:exponential:2:7:10
}
# SMTP server commands: LMTP here (no submission service is configured)
metric smtp_command {
  filter = event=smtp_server_command_finished
  group_by = cmd_name status_code
}
metric smtp_command_latency {
  filter = event=smtp_server_command_finished
  group_by = cmd_name duration:exponential:2:7:10
}
metric mail_delivery {
  filter = event=mail_delivery_finished
}
metric auth_success {
  filter = event=auth_request_finished AND success=yes
  group_by = service
}
metric auth_failures {
  filter = event=auth_request_finished AND NOT success=yes
  group_by = service
}
# Dovecot 2.3 has no per-command POP3 event: finished mail sessions per
# service stand in for POP3 load.
metric imap_session {
  filter = event=mail_user_session_finished AND category=service:imap
}
metric pop3_session {
  filter = event=mail_user_session_finished AND category=service:pop3
}
metric lmtp_session {
  filter = event=mail_user_session_finished AND category=service:lmtp
}
EOF
}

cmd_start() {
	if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
	[ "$(id -u)" -eq 0 ] || die "must run as root (Dovecot drops privileges itself)"
	command -v dovecot >/dev/null ||
		die "dovecot not installed (apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd)"
	mkdir -p "$1"
	DIR=$(cd "$1" && pwd)
	NUSERS=${2:-10}
	case $NUSERS in '' | *[!0-9]*) die "NUSERS must be a number, got '$NUSERS'" ;; esac
	PASSWORD=${MAILSIM_PASSWORD:-pass}
	case $PASSWORD in *:* | *$'\n'* | '') die "MAILSIM_PASSWORD must be non-empty without ':' or newline" ;; esac
	MAIL_USER=${MAIL_USER:-vmail}
	CONF=$DIR/etc/dovecot.conf
	INSTANCE_ID=$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)

	if pid=$(master_pid "$DIR"); then
		die "an instance is already running in $DIR (pid $pid)"
	fi
	system_user "$MAIL_USER"

	mkdir -p "$DIR/run" "$DIR/state" "$DIR/log" "$DIR/etc" "$DIR/mail" "$DIR/public"
	chmod 0755 "$DIR" "$DIR/etc" "$DIR/mail" "$DIR/public"
	chown "$MAIL_USER:$MAIL_USER" "$DIR/mail" "$DIR/public"
	if ! runuser -u "$MAIL_USER" -- test -w "$DIR/mail" 2>/dev/null; then
		die "user $MAIL_USER cannot reach $DIR/mail: make DIR and its parents traversable (chmod o+x)"
	fi

	local i
	# restart keeps the passwd-file as it is (KEEP_USERS, set by cmd_restart)
	if [ -z "${KEEP_USERS:-}" ] || [ ! -s "$DIR/etc/users" ]; then
		for ((i = 1; i <= NUSERS; i++)); do
			echo "user$i:{PLAIN}$PASSWORD"
		done >"$DIR/etc/users.tmp"
		mv "$DIR/etc/users.tmp" "$DIR/etc/users"
	fi
	chmod 0644 "$DIR/etc/users"

	# one imap/pop3 process per connection: raise the fd limit when allowed
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	# each IDLEing imap process holds an inotify instance; the default of
	# 128 per uid makes Dovecot poll beyond that (host-wide, only raised)
	local inotify=/proc/sys/fs/inotify/max_user_instances
	if [ -w "$inotify" ] && [ "$(cat "$inotify")" -lt 8192 ]; then
		echo 8192 >"$inotify" 2>/dev/null || true
	fi

	local port fixed=${IMAP_PORT:+y}${POP3_PORT:+y}${LMTP_PORT:+y}${METRICS_PORT:+y}
	local attempt ok=
	for ((attempt = 1; attempt <= 5; attempt++)); do
		IMAP_PORT=${IMAP_PORT:-$(free_port)}
		POP3_PORT=${POP3_PORT:-$(free_port "$IMAP_PORT")}
		LMTP_PORT=${LMTP_PORT:-$(free_port "$IMAP_PORT" "$POP3_PORT")}
		METRICS_PORT=${METRICS_PORT:-$(free_port "$IMAP_PORT" "$POP3_PORT" "$LMTP_PORT")}
		for port in "$IMAP_PORT" "$POP3_PORT" "$LMTP_PORT" "$METRICS_PORT"; do
			case $port in '' | *[!0-9]*) die "bad port '$port'" ;; esac
		done
		render_conf >"$CONF"
		doveconf -c "$CONF" -n >"$DIR/etc/doveconf-n.txt" ||
			die "configuration check failed for $CONF"
		: >>"$DIR/log/dovecot.log"
		# detached from our stdout/stderr so callers reading our output see EOF
		if dovecot -c "$CONF" </dev/null >>"$DIR/log/dovecot.log" 2>&1; then
			ok=y
			break
		fi
		[ -z "$fixed" ] || break
		# a port was taken between picking and binding: pick again
		unset IMAP_PORT POP3_PORT LMTP_PORT METRICS_PORT
	done
	[ -n "$ok" ] || {
		tail -n 20 "$DIR/log/dovecot.log" >&2 || true
		die "dovecot did not start; see $DIR/log/dovecot.log"
	}

	local t
	# the daemon writes its pid file after it has detached
	for ((t = 0; t < 100; t++)); do
		master_pid "$DIR" >/dev/null && break
		sleep 0.05
	done
	master_pid "$DIR" >/dev/null || die "no master pid in $DIR/run/master.pid; see $DIR/log/dovecot.log"
	for port in "$IMAP_PORT" "$POP3_PORT" "$LMTP_PORT" "$METRICS_PORT"; do
		for ((t = 0; t < 100; t++)); do
			port_open "$port" && break
			sleep 0.1
		done
		if ! port_open "$port"; then
			tail -n 20 "$DIR/log/dovecot.log" >&2 || true
			cmd_stop "$DIR" >/dev/null 2>&1 || true
			die "port $port not answering; see $DIR/log/dovecot.log"
		fi
	done

	{
		echo "DIR=$DIR"
		echo "CONF=$CONF"
		echo "PID=$(cat "$DIR/run/master.pid")"
		echo "NUSERS=$NUSERS"
		echo "PASSWORD=$PASSWORD"
		echo "IMAP_PORT=$IMAP_PORT"
		echo "POP3_PORT=$POP3_PORT"
		echo "LMTP_PORT=$LMTP_PORT"
		echo "METRICS_PORT=$METRICS_PORT"
		echo "IMAP_ADDR=127.0.0.1:$IMAP_PORT"
		echo "POP3_ADDR=127.0.0.1:$POP3_PORT"
		echo "LMTP_ADDR=127.0.0.1:$LMTP_PORT"
		echo "METRICS_URL=http://127.0.0.1:$METRICS_PORT/metrics"
		echo "LOG=$DIR/log/dovecot.log"
		echo "NAMESPACE_PREFIX=${NAMESPACE_PREFIX:-}"
		echo "NAMESPACE_SEPARATOR=${NAMESPACE_SEPARATOR:-/}"
		echo "SPECIAL_USE=${SPECIAL_USE:-yes}"
		echo "POP3_NO_FLAG_UPDATES=${POP3_NO_FLAG_UPDATES:-no}"
		echo "PUBLIC_NAMESPACE=${PUBLIC_NAMESPACE:-no}"
	} >"$DIR/env.tmp"
	mv "$DIR/env.tmp" "$DIR/env"
	cat "$DIR/env"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	[ -d "$1" ] || die "no directory $1"
	local dir master pids t
	dir=$(cd "$1" && pwd)
	if ! master=$(master_pid "$dir"); then
		rm -f "$dir/run/master.pid"
		echo "$PROG: no running instance in $dir"
		return 0
	fi
	pids=$(tree "$master" | cut -d' ' -f1)
	kill -TERM "$master" 2>/dev/null || true
	# a process counts until it has exited: zombies (state Z) waiting for
	# their new parent to reap them do not
	alive() {
		local n=0 p
		for p in $pids; do
			running "$p" && n=$((n + 1))
		done
		echo "$n"
	}
	for ((t = 0; t < 300; t++)); do
		[ "$(alive)" -eq 0 ] && break
		sleep 0.05
	done
	if [ "$(alive)" -ne 0 ]; then
		echo "$PROG: $(alive) processes of $dir still alive after 15 s; killing by pid" >&2
		for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
	fi
	rm -f "$dir/run/master.pid"
	echo "$PROG: stopped the instance in $dir (master pid $master)"
}

# env_value DIR KEY prints KEY's value from DIR/env.
env_value() {
	sed -n "s/^$2=//p" "$1/env" | head -n 1
}

cmd_restart() {
	[ $# -eq 1 ] || usage
	[ -d "$1" ] || die "no directory $1"
	local dir attempt
	dir=$(cd "$1" && pwd)
	[ -s "$dir/env" ] || die "no $dir/env: start an instance in $dir first"
	local imap pop3 lmtp metrics nusers password
	imap=$(env_value "$dir" IMAP_PORT)
	pop3=$(env_value "$dir" POP3_PORT)
	lmtp=$(env_value "$dir" LMTP_PORT)
	metrics=$(env_value "$dir" METRICS_PORT)
	nusers=$(env_value "$dir" NUSERS)
	password=$(env_value "$dir" PASSWORD)
	NAMESPACE_PREFIX=$(env_value "$dir" NAMESPACE_PREFIX || true)
	NAMESPACE_SEPARATOR=$(env_value "$dir" NAMESPACE_SEPARATOR || true)
	SPECIAL_USE=$(env_value "$dir" SPECIAL_USE || true)
	POP3_NO_FLAG_UPDATES=$(env_value "$dir" POP3_NO_FLAG_UPDATES || true)
	PUBLIC_NAMESPACE=$(env_value "$dir" PUBLIC_NAMESPACE || true)
	cmd_stop "$dir" >&2
	# the old listeners' ports may take a moment to be free again
	for ((attempt = 1; attempt <= 10; attempt++)); do
		if (IMAP_PORT=$imap POP3_PORT=$pop3 LMTP_PORT=$lmtp METRICS_PORT=$metrics \
			MAILSIM_PASSWORD=$password KEEP_USERS=y cmd_start "$dir" "$nusers"); then
			return 0
		fi
		sleep 0.5
	done
	die "restart of the instance in $dir failed; see $dir/log/dovecot.log"
}

# signal_tree DIR SIG sends SIG to the master of DIR, then to every process
# below it.
signal_tree() {
	local master p
	master=$(master_pid "$1") || die "no running instance in $1"
	kill "-$2" "$master"
	for p in $(tree "$master" | cut -d' ' -f1); do
		[ "$p" = "$master" ] || kill "-$2" "$p" 2>/dev/null || true
	done
}

cmd_freeze() {
	[ $# -eq 1 ] || usage
	signal_tree "$1" STOP
}

cmd_thaw() {
	[ $# -eq 1 ] || usage
	signal_tree "$1" CONT
}

cmd_cpu() {
	[ $# -eq 1 ] || usage
	local master
	master=$(master_pid "$1") || die "no running instance in $1"
	tree "$master" | awk -v hz="$(getconf CLK_TCK)" '
		{ total += $2; n++ }
		END { printf "%.2f %d\n", total / hz, n }'
}

cmd_env() {
	[ $# -eq 1 ] || usage
	master_pid "$1" >/dev/null || die "no running instance in $1"
	cat "$1/env"
}

# sourced (scripts/cyrus.sh uses the process and port helpers): stop here
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0
[ $# -ge 1 ] || usage
sub=$1
shift
case $sub in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
restart) cmd_restart "$@" ;;
freeze) cmd_freeze "$@" ;;
thaw) cmd_thaw "$@" ;;
cpu) cmd_cpu "$@" ;;
env) cmd_env "$@" ;;
*) usage ;;
esac
