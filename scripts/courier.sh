#!/usr/bin/env bash
# courier.sh — a private, self-contained Courier-IMAP 5.0 / courier-pop
# instance for mailsim tests and comparisons with Dovecot and Cyrus
# (docs/servers.md).
#
#   courier.sh install               unpack Courier into COURIER_PREFIX
#   courier.sh install-check         succeed when COURIER_PREFIX has Courier
#   courier.sh start DIR [NUSERS]    start an instance in DIR (default 10 users)
#   courier.sh stop DIR              stop exactly the instance in DIR
#   courier.sh env DIR               print the KEY=VALUE lines of a running instance
#
# Debian's courier-imap and courier-pop conflict with dovecot-imapd and
# dovecot-pop3d: installing them removes Dovecot. So nothing is installed:
# `install` fetches the packages with `apt-get download` and unpacks them
# with `dpkg -x` into COURIER_PREFIX (default /opt/mailsim-courier), with
# courier-authlib (authdaemond, the userdb module), gamin (gam_server) and
# the libraries the system may lack (libcourier-unicode4, libgamin0,
# libidn12, libgdbm6, libltdl7); the binaries run from there with
# LD_LIBRARY_PATH. `start` installs when COURIER_PREFIX has no Courier.
#
# courier-authlib has its paths compiled in: authdaemond reads
# /etc/courier/authdaemonrc, the userdb module /etc/courier/userdb.dat and
# userdbshadow.dat, and every login asks authdaemond over the socket
# /run/courier/authdaemon/socket. So the instance runs in a private mount
# namespace (unshare --mount): read-only overlays put DIR/sys/etc/courier
# at /etc/courier and a mount point at /run/courier/authdaemon, where
# DIR/authdaemon is bound. Nothing appears outside the namespace; two
# instances do not see each other's files.
#
# start: everything (userdb, authdaemonrc, maildirs, socket, pid file,
# logs) lives under DIR. IMAP (courier-imap's imaplogin + imapd) and POP3
# (courierpop3login + courierpop3d), each under its own couriertcpd, listen
# on 127.0.0.1 only, on IMAP_PORT and POP3_PORT when set, otherwise on free
# loopback ports. Users user1..userNUSERS with password $MAILSIM_PASSWORD
# (default "pass", crypt SHA-512) in DIR/sys/etc/courier/userdb.dat and
# userdbshadow.dat, mail in DIR/mail/userN/Maildir owned by MAIL_USER (default "vmail", created as a
# system user when missing, as scripts/dovecot.sh does). Courier's
# dialect: the personal namespace is "INBOX." with separator "."; there is
# no SPECIAL-USE and no folder but INBOX, unless FOLDERS names folders to
# create in every maildir (comma-separated, e.g. FOLDERS="Sent
# Items,Deleted Items" as a previous client would have left them; created
# as INBOX.<name>). There is no LMTP: deliver by IMAP APPEND (a scenario's
# `delivery: {protocol: imap-append}`). EXTRA_USERS (space-separated
# names) adds users beside user1..userNUSERS, with the same password.
# IDLE: by default (IDLE_FAM=yes, as Debian's courier-imap, which depends
# on gamin) the instance runs gamin's gam_server (inotify) as MAIL_USER
# and sets IMAP_ENHANCEDIDLE=1: changes are pushed within a second.
# IDLE_FAM=no is Courier without a file-notification service: IDLE checks
# the mailbox every IDLE_POLL seconds (IMAP_IDLE_TIMEOUT, default 60,
# Debian's), which is then the server's push latency; every login is
# greeted with an ALERT about the missing notification, and every folder
# Courier opens waits about 1.2 s for libgamin to give up. No metrics
# endpoint (METRICS_URL is empty). On success it prints KEY=VALUE lines (also
# written to DIR/env): DIR PID NUSERS PASSWORD IMAP_PORT POP3_PORT
# IMAP_ADDR POP3_ADDR METRICS_URL LOG IDLE_POLL IDLE_FAM FOLDERS (the
# only value shell-quoted: it may hold spaces).
# Needs root (the login processes switch to MAIL_USER; the mounts), and
# unshare(1) with mount namespaces and overlayfs.
#
# stop: signals the supervisor pid from DIR/run/master.pid (never a process
# name), which stops authdaemond, gam_server and both couriertcpd; waits for every
# process it had started to exit, and kills leftovers by pid after 15 s.
set -euo pipefail

# The process and port helpers (master_pid, running, tree, free_port,
# port_open), die, cmd_stop and cmd_env are dovecot.sh's: the supervisor's
# pid is kept in DIR/run/master.pid.
# shellcheck source=dovecot.sh
. "$(dirname "${BASH_SOURCE[0]}")/dovecot.sh"
PROG=${0##*/}
PREFIX=${COURIER_PREFIX:-/opt/mailsim-courier}
PACKAGES="courier-base courier-imap courier-pop courier-authlib courier-authdaemon courier-authlib-userdb libcourier-unicode4 libgamin0 gamin libidn12 libgdbm6 libltdl7"
TCPD=$PREFIX/usr/sbin/couriertcpd
AUTHDAEMOND=$PREFIX/usr/lib/courier/courier-authlib/authdaemond
MAKEDAT=$PREFIX/usr/lib/courier/courier-authlib/makedatprog
GAM_SERVER=$PREFIX/usr/libexec/gam_server

usage() {
	echo "usage: $PROG install | install-check | start DIR [NUSERS] | stop DIR | env DIR" >&2
	exit 2
}

libpath() {
	echo "$PREFIX/usr/lib/x86_64-linux-gnu:$PREFIX/usr/lib:$PREFIX/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

installed() {
	[ -x "$TCPD" ] && [ -x "$AUTHDAEMOND" ] && [ -x "$PREFIX/usr/bin/imapd" ] && [ -x "$GAM_SERVER" ] &&
		[ -x "$PREFIX/usr/lib/courier/courier/courierpop3d" ]
}

cmd_install() {
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	command -v apt-get >/dev/null || die "apt-get not found: Courier is unpacked from Debian packages"
	# shellcheck disable=SC2086
	unpack_debs "$PREFIX" $PACKAGES
	installed || die "no Courier binaries in $PREFIX after unpacking"
	local missing
	missing=$(LD_LIBRARY_PATH=$(libpath) ldd "$TCPD" "$AUTHDAEMOND" "$PREFIX/usr/bin/imapd" \
		"$PREFIX/usr/lib/courier/courier/imaplogin" "$PREFIX/usr/lib/courier/courier/courierpop3login" \
		"$PREFIX/usr/lib/courier/courier/courierpop3d" "$PREFIX"/usr/lib/courier-authlib/libauthuserdb.so.0 "$GAM_SERVER" \
		2>&1 | grep 'not found' | sort -u || true)
	[ -z "$missing" ] || die "libraries missing: $missing"
	echo "$PROG: Courier-IMAP $(LD_LIBRARY_PATH=$(libpath) "$PREFIX/usr/bin/imapd" --version 2>/dev/null | head -n 1) unpacked in $PREFIX" >&2
}

# render_authdaemonrc: the userdb module only, a few daemons.
render_authdaemonrc() {
	cat <<EOF
# mailsim's private authdaemond configuration, rendered by scripts/courier.sh.
authmodulelist="authuserdb"
daemons=3
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
EOF
}

# render_imapd: the environment imaplogin and imapd read (Debian's
# /etc/courier/imapd, without STARTTLS and CRAM, IDLE polled every
# IDLE_POLL seconds).
render_imapd() {
	cat <<EOF
# mailsim's private courier-imap environment, rendered by scripts/courier.sh.
IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"
IMAP_KEYWORDS=1
IMAP_ACL=1
IMAP_PROXY=0
IMAP_IDLE_TIMEOUT=$IDLE_POLL
IMAP_MAILBOX_SANITY_CHECK=1
IMAP_DISABLETHREADSORT=0
IMAP_CHECK_ALL_FOLDERS=0
IMAP_OBSOLETE_CLIENT=0
IMAP_UMASK=022
IMAP_USELOCKS=1
IMAP_ENHANCEDIDLE=$ENHANCEDIDLE
GAM_CLIENT_ID=$GAM_ID
GAMIN_DEBUG_SERVER=$DIR/no-gam_server
IMAP_TRASHFOLDERNAME=Trash
IMAP_EMPTYTRASH=
IMAP_MOVE_EXPUNGE_TO_TRASH=0
IMAP_TLS_REQUIRED=0
IMAP_STARTTLS=NO
IMAP_SHAREDINDEXFILE=$DIR/sys/etc/courier/shared/index
HEADERFROM=X-IMAP-Sender
SENDMAIL=/bin/false
EOF
}

# render_pop3d: the environment courierpop3login and courierpop3d read.
render_pop3d() {
	cat <<EOF
# mailsim's private courier-pop environment, rendered by scripts/courier.sh.
POP3AUTH=""
POP3_PROXY=0
POP3_STARTTLS=NO
POP3_TLS_REQUIRED=0
MIME_UNICODE_MESSAGE_TYPE="message/global"
EOF
}

# render_supervisor: the process that runs in the private mount namespace,
# mounts Courier's compiled-in paths, starts authdaemond and both
# couriertcpd, and on TERM stops them and waits.
render_supervisor() {
	cat <<EOF
#!/usr/bin/env bash
# mailsim's private Courier supervisor, rendered by scripts/courier.sh;
# runs under unshare --mount --propagation private.
set -eu
echo \$\$ >"$DIR/run/master.pid.tmp"
mv "$DIR/run/master.pid.tmp" "$DIR/run/master.pid"
mount -t overlay mailsim-courier-etc -o "lowerdir=$DIR/sys/etc:/etc" /etc
mount -t overlay mailsim-courier-run -o "lowerdir=$DIR/sys/run:/run" /run
mount --bind "$DIR/authdaemon" /run/courier/authdaemon
export LD_LIBRARY_PATH="$(libpath)"
export LTDL_LIBRARY_PATH="$PREFIX/usr/lib/courier-authlib"
pids=
stop() {
	trap - TERM INT
	kill -TERM \$pids 2>/dev/null || true
	wait
	exit 0
}
trap stop TERM INT
"$AUTHDAEMOND" </dev/null >>"$DIR/log/authdaemond.log" 2>&1 &
pids="\$pids \$!"
if [ "$IDLE_FAM" = yes ]; then
	# the file alteration monitor imapd asks (abstract socket
	# fam-$MAIL_USER-$GAM_ID); imapd never forks one itself
	# (GAMIN_DEBUG_SERVER names no file: libgamin gives up at once,
	# where a server that exits makes it wait about a second per
	# folder), so none outlives the instance
	runuser -u "$MAIL_USER" -- "$GAM_SERVER" --notimeout "$GAM_ID" </dev/null >>"$DIR/log/gam_server.log" 2>&1 &
	pids="\$pids \$!"
fi
for ((t = 0; t < 100; t++)); do
	[ -S /run/courier/authdaemon/socket ] && break
	sleep 0.05
done
(
	set -a
	. "$DIR/etc/imapd"
	exec "$TCPD" -address=127.0.0.1 -maxprocs=1000 -maxperip=1000 -nodnslookup -noidentlookup \\
		"$IMAP_PORT" "$PREFIX/usr/lib/courier/courier/imaplogin" "$PREFIX/usr/bin/imapd" Maildir
) </dev/null >>"$DIR/log/imapd.log" 2>&1 &
pids="\$pids \$!"
(
	set -a
	. "$DIR/etc/pop3d"
	exec "$TCPD" -address=127.0.0.1 -maxprocs=1000 -maxperip=1000 -nodnslookup -noidentlookup \\
		"$POP3_PORT" "$PREFIX/usr/lib/courier/courier/courierpop3login" \\
		"$PREFIX/usr/lib/courier/courier/courierpop3d" Maildir
) </dev/null >>"$DIR/log/pop3d.log" 2>&1 &
pids="\$pids \$!"
# one service gone ends the instance (stop sees it)
wait -n || true
stop
EOF
}

# make_userdb writes DIR/sys/etc/courier/userdb.dat and userdbshadow.dat
# for user1..userNUSERS as makeuserdb would (that perl script has the
# /etc/courier path compiled in): the password in the shadow file.
make_userdb() {
	local u uid gid hash etc=$DIR/sys/etc/courier
	uid=$(id -u "$MAIL_USER")
	gid=$(id -g "$MAIL_USER")
	hash=$(printf '%s\n' "$PASSWORD" | openssl passwd -6 -stdin) || die "openssl passwd failed"
	{
		for u in "${NAMES[@]}"; do
			printf '%s\tuid=%s|gid=%s|home=%s|mail=%s|_=\n' "$u" "$uid" "$gid" \
				"$DIR/mail/$u" "$DIR/mail/$u/Maildir"
		done
		echo .
	} | LD_LIBRARY_PATH=$(libpath) "$MAKEDAT" - "$etc/userdb.tmp" "$etc/userdb.dat" ||
		die "makedatprog userdb.dat failed"
	{
		for u in "${NAMES[@]}"; do
			printf '%s\tsystempw=%s\n' "$u" "$hash"
		done
		echo .
	} | LD_LIBRARY_PATH=$(libpath) "$MAKEDAT" - "$etc/userdbshadow.tmp" "$etc/userdbshadow.dat" ||
		die "makedatprog userdbshadow.dat failed"
	chmod 0600 "$etc/userdbshadow.dat"
	chmod 0644 "$etc/userdb.dat"
}

# make_maildirs creates every user's Maildir and the FOLDERS in it.
make_maildirs() {
	local u f md folders=()
	[ -z "$FOLDERS" ] || IFS=, read -r -a folders <<<"$FOLDERS"
	for u in "${NAMES[@]}"; do
		md=$DIR/mail/$u/Maildir
		mkdir -p "$md/cur" "$md/new" "$md/tmp"
		for f in "${folders[@]}"; do
			mkdir -p "$md/.$f/cur" "$md/.$f/new" "$md/.$f/tmp"
			: >"$md/.$f/maildirfolder"
		done
		if [ ${#folders[@]} -gt 0 ]; then
			printf 'INBOX.%s\n' "${folders[@]}" >"$md/courierimapsubscribed"
		fi
	done
	chown -R "$MAIL_USER:$MAIL_USER" "$DIR/mail"
	chmod -R u+rwX,go-rwx "$DIR/mail"/*
}

# launch renders the configuration for IMAP_PORT and POP3_PORT, starts the
# supervisor in a private mount namespace and waits until both ports
# answer and it still runs (a couriertcpd that cannot bind ends it); it
# fails, with nothing left running, otherwise.
launch() {
	render_imapd >"$DIR/etc/imapd"
	render_pop3d >"$DIR/etc/pop3d"
	render_supervisor >"$DIR/etc/supervisor.sh"
	rm -f "$DIR/run/master.pid"
	setsid --wait unshare --mount --propagation private bash "$DIR/etc/supervisor.sh" \
		</dev/null >>"$DIR/log/supervisor.log" 2>&1 &
	local t port launched=$!
	# Until the supervisor has written its pid (it may have ended since:
	# a couriertcpd that cannot bind ends it at once, which the port
	# check below reports) or the launched process is gone; up to 20 s
	# on a loaded machine.
	for ((t = 0; t < 400; t++)); do
		[ -s "$DIR/run/master.pid" ] && break
		running "$launched" || break
		sleep 0.05
	done
	[ -s "$DIR/run/master.pid" ] || {
		tail -n 20 "$DIR/log/supervisor.log" >&2 || true
		die "no supervisor pid in $DIR/run/master.pid; see $DIR/log/supervisor.log"
	}
	for port in "$IMAP_PORT" "$POP3_PORT"; do
		for ((t = 0; t < 100; t++)); do
			port_open "$port" && break
			master_pid "$DIR" >/dev/null || break
			sleep 0.1
		done
	done
	sleep 0.2
	if master_pid "$DIR" >/dev/null && port_open "$IMAP_PORT" && port_open "$POP3_PORT"; then
		return 0
	fi
	cmd_stop "$DIR" >/dev/null 2>&1 || true
	return 1
}

cmd_start() {
	if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
	[ "$(id -u)" -eq 0 ] || die "must run as root (the private mounts; the logins switch to MAIL_USER)"
	command -v unshare >/dev/null || die "unshare not found: Courier runs in a private mount namespace"
	command -v openssl >/dev/null || die "openssl not found: it hashes the userdb passwords"
	installed || cmd_install
	unshare --mount --propagation private true 2>/dev/null ||
		die "unshare --mount is not permitted here: Courier needs a private mount namespace"
	mkdir -p "$1"
	DIR=$(cd "$1" && pwd)
	NUSERS=${2:-10}
	case $NUSERS in '' | *[!0-9]*) die "NUSERS must be a number, got '$NUSERS'" ;; esac
	PASSWORD=${MAILSIM_PASSWORD:-pass}
	case $PASSWORD in *$'\n'* | '') die "MAILSIM_PASSWORD must be non-empty without newline" ;; esac
	MAIL_USER=${MAIL_USER:-vmail}
	IDLE_POLL=${IDLE_POLL:-60}
	case $IDLE_POLL in '' | *[!0-9]* | 0) die "IDLE_POLL must be a positive number of seconds" ;; esac
	IDLE_FAM=${IDLE_FAM:-yes}
	case $IDLE_FAM in yes) ENHANCEDIDLE=1 ;; no) ENHANCEDIDLE=0 ;; *) die "IDLE_FAM must be yes or no" ;; esac
	GAM_ID=mailsim-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
	FOLDERS=${FOLDERS:-}
	NAMES=()
	local i n
	for ((i = 1; i <= NUSERS; i++)); do NAMES+=("user$i"); done
	for n in ${EXTRA_USERS:-}; do
		case $n in *[!A-Za-z0-9_-]*) die "EXTRA_USERS: '$n' is not a user name of letters, digits, '-' and '_'" ;; esac
		NAMES+=("$n")
	done
	case $FOLDERS in *[./\\]* | *$'\n'*) die "FOLDERS must be comma-separated names without '.', '/', '\\'" ;; esac
	case $DIR in *[[:space:]\"\$\`\\]*) die "DIR must not contain spaces, quotes, '\$', '\`' or '\\'" ;; esac
	if pid=$(master_pid "$DIR"); then
		die "an instance is already running in $DIR (pid $pid)"
	fi
	system_user "$MAIL_USER"
	local d
	rm -rf "$DIR/sys" "$DIR/authdaemon"
	for d in etc sys/etc/courier/shared sys/run/courier/authdaemon authdaemon run log mail; do
		mkdir -p "$DIR/$d"
	done
	chmod 0755 "$DIR" "$DIR/mail" "$DIR/sys" "$DIR/sys/etc" "$DIR/sys/etc/courier"
	chmod 0750 "$DIR/authdaemon"
	runuser -u "$MAIL_USER" -- test -x "$DIR/mail" 2>/dev/null ||
		die "user $MAIL_USER cannot reach $DIR/mail: make DIR and its parents traversable (chmod o+x)"
	render_authdaemonrc >"$DIR/sys/etc/courier/authdaemonrc"
	make_userdb
	make_maildirs

	local log attempt want_imap=${IMAP_PORT:-} want_pop3=${POP3_PORT:-}
	for log in authdaemond imapd pop3d supervisor gam_server; do : >>"$DIR/log/$log.log"; done
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	# free ports are re-picked when another process took one meanwhile
	for attempt in 1 2 3; do
		IMAP_PORT=${want_imap:-$(free_port)}
		POP3_PORT=${want_pop3:-$(free_port "$IMAP_PORT")}
		launch && break
		if [ -n "$want_imap$want_pop3" ] || [ "$attempt" -eq 3 ]; then
			tail -n 20 "$DIR"/log/*.log >&2 || true
			die "Courier did not serve on ports $IMAP_PORT, $POP3_PORT; see $DIR/log"
		fi
	done
	{
		echo "DIR=$DIR"
		echo "PID=$(master_pid "$DIR")"
		echo "NUSERS=$NUSERS"
		echo "PASSWORD=$PASSWORD"
		echo "IMAP_PORT=$IMAP_PORT"
		echo "POP3_PORT=$POP3_PORT"
		echo "IMAP_ADDR=127.0.0.1:$IMAP_PORT"
		echo "POP3_ADDR=127.0.0.1:$POP3_PORT"
		echo "METRICS_URL="
		echo "LOG=$DIR/log"
		echo "IDLE_POLL=$IDLE_POLL"
		echo "IDLE_FAM=$IDLE_FAM"
		printf 'FOLDERS=%q\n' "$FOLDERS"
	} >"$DIR/env.tmp"
	mv "$DIR/env.tmp" "$DIR/env"
	cat "$DIR/env"
}

[ $# -ge 1 ] || usage
sub=$1
shift
case $sub in
install) cmd_install "$@" ;;
install-check) installed || die "no Courier in $PREFIX (courier.sh install)" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
env) cmd_env "$@" ;;
*) usage ;;
esac
