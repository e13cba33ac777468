#!/usr/bin/env bash
# cyrus.sh — a private, self-contained Cyrus IMAP 3.6 instance for mailsim
# tests and comparisons with Dovecot (docs/servers.md).
#
#   cyrus.sh install                 unpack Cyrus into CYRUS_PREFIX
#   cyrus.sh install-check           succeed when CYRUS_PREFIX has Cyrus
#   cyrus.sh start DIR [NUSERS]      start an instance in DIR (default 10 users)
#   cyrus.sh stop DIR                stop exactly the instance in DIR
#   cyrus.sh env DIR                 print the KEY=VALUE lines of a running instance
#
# Debian's cyrus-imapd and cyrus-pop3d conflict with dovecot-imapd and
# dovecot-pop3d: installing them removes Dovecot. So nothing is installed:
# `install` fetches the packages with `apt-get download` and unpacks them
# with `dpkg -x` into CYRUS_PREFIX (default /opt/mailsim-cyrus), with the
# libraries they need that the system may lack (libical3, libpcre3,
# libxapian30) and sasl2-bin's saslpasswd2; the binaries run from there
# with LD_LIBRARY_PATH. `start` installs when CYRUS_PREFIX has no Cyrus.
#
# start: everything (imapd.conf, cyrus.conf, sasldb, config directory,
# spool, sockets, pid file, log) lives under DIR; /etc/imapd.conf, syslog
# and systemd are not used. IMAP, POP3 and LMTP (preauthorised, -a) listen
# on 127.0.0.1 only, on IMAP_PORT, POP3_PORT, LMTP_PORT when set, otherwise
# on free loopback ports. Users user1..userNUSERS with password
# $MAILSIM_PASSWORD (default "pass") in DIR/etc/sasldb2; INBOX and Drafts,
# Sent, Trash, Junk, Archive (with their special-use) are created at the
# first login or delivery; EXTRA_USERS="name ..." adds users of other names
# (letters, digits, ".", "_", "-") with the same password; ADMIN=name adds
# an administrator of that name (imapd.conf admins:), same password, who
# has no mailbox of their own and can create shared folders outside the
# users' (Cyrus's shared namespace: "News" beside INBOX). Mailbox names:
# ALTNAMESPACE=no (default) is Cyrus's and Debian's "INBOX." namespace
# (INBOX.Sent), ALTNAMESPACE=yes the alternate namespace (Sent beside
# INBOX); the hierarchy separator is "." unless UNIXHIERARCHYSEP=yes makes
# it "/" (INBOX/Sent, or Sent/Sub). IDLE is
# served by idled (notification at once) unless IDLE_POLL=N: then imapd
# checks the mailbox every N seconds, the push latency of a server without
# a notification service. Duplicate delivery suppression is on (Cyrus's
# default): a second delivery of a Message-ID to the same mailbox is
# dropped silently. No metrics endpoint (METRICS_URL is empty). On success
# it prints KEY=VALUE lines (also written to DIR/env): DIR PID NUSERS
# PASSWORD IMAP_PORT POP3_PORT LMTP_PORT IMAP_ADDR POP3_ADDR LMTP_ADDR
# METRICS_URL LOG ALTNAMESPACE UNIXHIERARCHYSEP IDLE_POLL ADMIN.
# Needs root: the master drops privileges to the user "cyrus" (group
# "mail"), created as a system user when missing, so DIR and its parents
# must be traversable by it.
#
# stop: signals the master pid from DIR/run/master.pid (never a process
# name), waits for it and every process it had started to exit, and kills
# leftovers by pid after 15 s.
set -euo pipefail

# The process and port helpers (master_pid, running, tree, free_port,
# port_open), die, cmd_stop and cmd_env are dovecot.sh's: both keep the
# master's pid in DIR/run/master.pid.
# shellcheck source=dovecot.sh
. "$(dirname "${BASH_SOURCE[0]}")/dovecot.sh"
PROG=${0##*/}
PREFIX=${CYRUS_PREFIX:-/opt/mailsim-cyrus}
BIN=$PREFIX/usr/lib/cyrus/bin
PACKAGES="cyrus-common cyrus-imapd cyrus-pop3d libical3 libpcre3 libxapian30 sasl2-bin"

usage() {
	echo "usage: $PROG install | install-check | start DIR [NUSERS] | stop DIR | env DIR" >&2
	exit 2
}

libpath() {
	echo "$PREFIX/usr/lib/x86_64-linux-gnu:$PREFIX/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

cmd_install() {
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	command -v apt-get >/dev/null || die "apt-get not found: Cyrus is unpacked from Debian packages"
	# shellcheck disable=SC2086
	unpack_debs "$PREFIX" $PACKAGES
	[ -x "$BIN/master" ] || die "no $BIN/master after unpacking"
	local missing
	missing=$(LD_LIBRARY_PATH=$(libpath) ldd "$BIN/master" "$BIN/imapd" "$BIN/pop3d" "$BIN/lmtpd" "$BIN/idled" 2>&1 | grep 'not found' | sort -u || true)
	[ -z "$missing" ] || die "libraries missing: $missing"
	echo "$PROG: Cyrus $(cat "$PREFIX/usr/share/doc/cyrus-common/changelog.Debian.gz" 2>/dev/null | gzip -dc 2>/dev/null | head -n 1 | cut -d'(' -f2 | cut -d')' -f1) unpacked in $PREFIX" >&2
}

# plus_delivery USER logs in as USER once over IMAP, which creates INBOX and
# its special-use folders (autocreate), and grants "anyone" the post right
# on Junk and Archive, so that LMTP to USER+Junk delivers into Junk as on
# the project's Dovecot (Cyrus delivers plus-addressed mail into a folder
# only with that right, else into INBOX).
plus_delivery() {
	local f prefix=INBOX. reply
	[ "$UNIXHIERARCHYSEP" = yes ] && prefix=INBOX/
	[ "$ALTNAMESPACE" = yes ] && prefix=
	exec 3<>"/dev/tcp/127.0.0.1/$IMAP_PORT" || return 1
	{
		printf 'a LOGIN %s "%s"\r\n' "$1" "$PASSWORD"
		for f in Junk Archive; do
			printf 's%s SETACL %s%s anyone p\r\n' "$f" "$prefix" "$f"
		done
		printf 'z LOGOUT\r\n'
	} >&3
	reply=$(timeout 10 cat <&3 || true)
	exec 3<&-
	case $reply in *"a OK"*"sJunk OK"*"sArchive OK"*) return 0 ;; esac
	echo "$PROG: $1: $reply" >&2
	return 1
}

render_imapd_conf() {
	cat <<EOF
# mailsim's private Cyrus instance, rendered by scripts/cyrus.sh.
configdirectory: $DIR/lib
partition-default: $DIR/spool
defaultpartition: default
mboxname_lockpath: $DIR/lock
proc_path: $DIR/proc
servername: localhost
syslog_prefix: cyrus-mailsim
altnamespace: $ALTNAMESPACE
unixhierarchysep: $UNIXHIERARCHYSEP
lmtp_downcase_rcpt: yes
virtdomains: off
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $DIR/etc/sasldb2
sasl_mech_list: PLAIN LOGIN
popminpoll: 0
autocreate_quota: 0
autocreate_post: 1
autocreate_inbox_folders: Drafts | Sent | Trash | Junk | Archive
autocreate_subscribe_folders: Drafts | Sent | Trash | Junk | Archive
specialuse_extra: \\Junk
xlist-drafts: Drafts
xlist-sent: Sent
xlist-trash: Trash
xlist-junk: Junk
xlist-archive: Archive
duplicatesuppression: 1
lmtpsocket: $DIR/lib/socket/lmtp
idlesocket: $DIR/lib/socket/idle
notifysocket: $DIR/lib/socket/notify
imapidlepoll: ${IDLE_POLL:-60}
maxlogins_per_user: 0
EOF
	if [ -n "${ADMIN:-}" ]; then
		echo "admins: $ADMIN"
	fi
}

render_cyrus_conf() {
	cat <<EOF
# mailsim's private Cyrus master configuration, rendered by scripts/cyrus.sh.
START {
	recover cmd="$BIN/ctl_cyrusdb -C $CONF -r"
}
SERVICES {
	imap cmd="$BIN/imapd -C $CONF" listen="127.0.0.1:$IMAP_PORT" prefork=0 maxchild=2000
	pop3 cmd="$BIN/pop3d -C $CONF" listen="127.0.0.1:$POP3_PORT" prefork=0 maxchild=1000
	lmtp cmd="$BIN/lmtpd -C $CONF -a" listen="127.0.0.1:$LMTP_PORT" prefork=0 maxchild=100
}
EVENTS {
	checkpoint cmd="$BIN/ctl_cyrusdb -C $CONF -c" period=30
}
EOF
	if [ "${IDLE_POLL:-}" = "" ]; then
		cat <<EOF
DAEMON {
	idled cmd="$BIN/idled -C $CONF"
}
EOF
	fi
}

cmd_start() {
	if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
	[ "$(id -u)" -eq 0 ] || die "must run as root (the Cyrus master drops privileges itself)"
	[ -x "$BIN/master" ] || cmd_install
	mkdir -p "$1"
	DIR=$(cd "$1" && pwd)
	NUSERS=${2:-10}
	case $NUSERS in '' | *[!0-9]*) die "NUSERS must be a number, got '$NUSERS'" ;; esac
	PASSWORD=${MAILSIM_PASSWORD:-pass}
	case $PASSWORD in *$'\n'* | '') die "MAILSIM_PASSWORD must be non-empty without newline" ;; esac
	CONF=$DIR/etc/imapd.conf
	ALTNAMESPACE=${ALTNAMESPACE:-no}
	case $ALTNAMESPACE in yes | no) ;; *) die "ALTNAMESPACE must be yes or no" ;; esac
	UNIXHIERARCHYSEP=${UNIXHIERARCHYSEP:-no}
	case $UNIXHIERARCHYSEP in yes | no) ;; *) die "UNIXHIERARCHYSEP must be yes or no" ;; esac
	local i u
	USERS=()
	for ((i = 1; i <= NUSERS; i++)); do
		USERS+=("user$i")
	done
	for u in ${EXTRA_USERS:-}; do
		case $u in *[!A-Za-z0-9._-]*) die "EXTRA_USERS: bad user name '$u'" ;; esac
		USERS+=("$u")
	done
	case ${ADMIN:-} in *[!A-Za-z0-9._-]*) die "ADMIN: bad user name '$ADMIN'" ;; esac
	case ${IDLE_POLL:-} in *[!0-9]*) die "IDLE_POLL must be a number of seconds" ;; esac
	if pid=$(master_pid "$DIR"); then
		die "an instance is already running in $DIR (pid $pid)"
	fi
	system_user cyrus --gid mail
	local d
	# imapd binds its IDLE socket in configdirectory/socket (idle.PID)
	for d in etc lib lib/proc lib/socket spool lock proc run log; do
		mkdir -p "$DIR/$d"
	done
	chmod 0755 "$DIR"
	chown -R cyrus:mail "$DIR/lib" "$DIR/spool" "$DIR/lock" "$DIR/proc" "$DIR/run" "$DIR/log"
	runuser -u cyrus -- test -w "$DIR/spool" 2>/dev/null ||
		die "user cyrus cannot reach $DIR/spool: make DIR and its parents traversable (chmod o+x)"

	local db=$DIR/etc/sasldb2
	rm -f "$db"
	for u in "${USERS[@]}" ${ADMIN:-}; do
		printf '%s' "$PASSWORD" | LD_LIBRARY_PATH=$(libpath) "$PREFIX/usr/sbin/saslpasswd2" -p -c -f "$db" -u localhost "$u" ||
			die "saslpasswd2 failed for $u"
	done
	chown cyrus:mail "$db"
	chmod 0640 "$db"

	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	IMAP_PORT=${IMAP_PORT:-$(free_port)}
	POP3_PORT=${POP3_PORT:-$(free_port "$IMAP_PORT")}
	LMTP_PORT=${LMTP_PORT:-$(free_port "$IMAP_PORT" "$POP3_PORT")}
	render_imapd_conf >"$DIR/etc/imapd.conf"
	render_cyrus_conf >"$DIR/etc/cyrus.conf"
	chmod 0644 "$DIR/etc/imapd.conf" "$DIR/etc/cyrus.conf"
	: >>"$DIR/log/cyrus.log"
	chown cyrus:mail "$DIR/log/cyrus.log"
		# The master passes no -C to the services: every cmd names the config.
	# -D: stay in the foreground (in our background), logging to stderr
	LD_LIBRARY_PATH=$(libpath) setsid "$BIN/master" -D -l 64 -C "$CONF" -M "$DIR/etc/cyrus.conf" \
		-p "$DIR/run/master.pid" </dev/null >>"$DIR/log/cyrus.log" 2>&1 &
	local t port
	for ((t = 0; t < 100; t++)); do
		master_pid "$DIR" >/dev/null && break
		sleep 0.05
	done
	master_pid "$DIR" >/dev/null || {
		tail -n 20 "$DIR/log/cyrus.log" >&2 || true
		die "no master pid in $DIR/run/master.pid; see $DIR/log/cyrus.log"
	}
	for port in "$IMAP_PORT" "$POP3_PORT" "$LMTP_PORT"; do
		for ((t = 0; t < 100; t++)); do
			port_open "$port" && break
			sleep 0.1
		done
		if ! port_open "$port"; then
			tail -n 20 "$DIR/log/cyrus.log" >&2 || true
			cmd_stop "$DIR" >/dev/null 2>&1 || true
			die "port $port not answering; see $DIR/log/cyrus.log"
		fi
	done
	for u in "${USERS[@]}"; do
		plus_delivery "$u" || {
			cmd_stop "$DIR" >/dev/null 2>&1 || true
			die "cannot prepare the folders of $u; see $DIR/log/cyrus.log"
		}
	done
	{
		echo "DIR=$DIR"
		echo "PID=$(master_pid "$DIR")"
		echo "NUSERS=$NUSERS"
		echo "PASSWORD=$PASSWORD"
		echo "IMAP_PORT=$IMAP_PORT"
		echo "POP3_PORT=$POP3_PORT"
		echo "LMTP_PORT=$LMTP_PORT"
		echo "IMAP_ADDR=127.0.0.1:$IMAP_PORT"
		echo "POP3_ADDR=127.0.0.1:$POP3_PORT"
		echo "LMTP_ADDR=127.0.0.1:$LMTP_PORT"
		echo "METRICS_URL="
		echo "LOG=$DIR/log/cyrus.log"
		echo "ALTNAMESPACE=$ALTNAMESPACE"
		echo "UNIXHIERARCHYSEP=$UNIXHIERARCHYSEP"
		echo "IDLE_POLL=${IDLE_POLL:-}"
		echo "ADMIN=${ADMIN:-}"
	} >"$DIR/env.tmp"
	mv "$DIR/env.tmp" "$DIR/env"
	cat "$DIR/env"
}

[ $# -ge 1 ] || usage
sub=$1
shift
case $sub in
install) cmd_install "$@" ;;
install-check) [ -x "$BIN/master" ] || die "no Cyrus in $PREFIX (cyrus.sh install)" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
env) cmd_env "$@" ;;
*) usage ;;
esac
