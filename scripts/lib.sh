# Shared by scripts/demo.sh and scripts/test.sh (sourced, not run).
#
# Sets up everything the quick-start commands need on a Debian 12 machine:
#   deps        installs the missing Debian packages (as root, or through sudo)
#   build       builds crm warning-free (-Werror)
#   overlay     a private copy of the PostgreSQL install tree inside the checkout
#               (.pg/root), so crm is installed there and never into the system
#               directories, and two checkouts never see each other's crm.so
#   cluster     a throwaway cluster in .pg/data with its own socket directory
#               (.pg/sock) and port, no TCP listener; stopped on exit
#
# Environment: CRM_PGDIR (default <checkout>/.pg), CRM_PGPORT (default 54329).

set -euo pipefail

CRM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGVER=15
PGBIN=/usr/lib/postgresql/$PGVER/bin
CRM_PGDIR=${CRM_PGDIR:-$CRM_ROOT/.pg}
CRM_PGPORT=${CRM_PGPORT:-54329}
CRM_DEPS="make gcc postgresql-$PGVER postgresql-server-dev-$PGVER postgresql-$PGVER-pgtap postgresql-$PGVER-cron libtap-parser-sourcehandler-pgtap-perl python3-sqlalchemy python3-psycopg2 pgbouncer"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Install the Debian packages that are not there yet.
crm_deps() {
	local missing="" p
	for p in $CRM_DEPS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		say "installing:$missing"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	fi
}

# Build with -Wextra -Werror: a warning is a failure here and in CI.
crm_build() {
	say "building crm"
	make -C "$CRM_ROOT" -s PG_CFLAGS="-Wextra -Werror" >/dev/null
}

# The private install tree: the PostgreSQL binary is copied (the server finds
# its share/ and lib/ directories relative to its own executable), everything
# else is symlinked, and crm is installed into it with DESTDIR.
crm_overlay() {
	OVERLAY=$CRM_PGDIR/root
	OVERLAY_BIN=$OVERLAY$PGBIN
	if ! cmp -s "$PGBIN/postgres" "$OVERLAY_BIN/postgres" 2>/dev/null; then
		say "preparing private install tree in $OVERLAY"
		rm -rf "$OVERLAY"
		mkdir -p "$OVERLAY_BIN" "$OVERLAY/usr/share/postgresql"
		cp -rs "/usr/lib/postgresql/$PGVER/lib" "$OVERLAY/usr/lib/postgresql/$PGVER/lib"
		cp -rs "/usr/share/postgresql/$PGVER" "$OVERLAY/usr/share/postgresql/$PGVER"
		cp "$PGBIN/postgres" "$OVERLAY_BIN/postgres"
	fi
	# Never let an install write through a symlink into the system tree.
	find "$OVERLAY" \( -name 'crm.so' -o -name 'crm.control' -o -name 'crm--*.sql' \) -delete
	make -C "$CRM_ROOT" -s install DESTDIR="$OVERLAY" >/dev/null
}

# Run a command as the cluster's owner (PostgreSQL refuses to run as root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

crm_cluster_stop() {
	if [ -n "${PGDATA_DIR:-}" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	fi
}

# Start a fresh cluster; $1 = database pg_cron lives in.
crm_cluster_start() {
	local crondb=${1:-postgres}
	if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$(dirname "$CRM_PGDIR")" 2>/dev/null; then
		# The checkout sits where the postgres user cannot go (a home
		# directory with mode 700, say): keep the cluster in /tmp instead.
		CRM_PGDIR=$(mktemp -d /tmp/crm-pg.XXXXXX)
		say "the postgres user cannot reach the checkout; using $CRM_PGDIR"
		crm_overlay
	fi
	PGDATA_DIR=$CRM_PGDIR/data
	PGSOCK_DIR=$CRM_PGDIR/sock
	if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	# (a fresh server log: the suites look in it for crashed backends)
	rm -rf "$PGDATA_DIR" "$PGSOCK_DIR" "$CRM_PGDIR/server.log"
	mkdir -p "$PGDATA_DIR" "$PGSOCK_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$PGDATA_DIR" "$PGSOCK_DIR" "$CRM_PGDIR"
	chmod 700 "$PGDATA_DIR"
	say "starting a throwaway cluster (socket $PGSOCK_DIR, port $CRM_PGPORT)"
	as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
	cat >>"$PGDATA_DIR/postgresql.conf" <<CONF
port = $CRM_PGPORT
listen_addresses = ''
unix_socket_directories = '$PGSOCK_DIR'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$crondb'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 120
shared_buffers = 512MB
max_prepared_transactions = 10
log_min_messages = warning
CONF
	trap crm_cluster_stop EXIT
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -c -p "$OVERLAY_BIN/postgres" -l "$CRM_PGDIR/server.log" -w -t 60 start >/dev/null
	export PGHOST=$PGSOCK_DIR PGPORT=$CRM_PGPORT PGUSER=postgres
	export PATH=$PGBIN:$PATH
}

# Restart the running cluster (used by the crash test).
crm_cluster_restart() {
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -c -p "$OVERLAY_BIN/postgres" -l "$CRM_PGDIR/server.log" -w -t 120 start >/dev/null
}
