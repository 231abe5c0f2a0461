#!/usr/bin/env bash
# Real clients (issue 8): an ORM and the connection pool people deploy.
#
#   1. The first-admin steps of the README, as written there: a superuser
#      creates two organizations and an admin-level role per organization;
#      each admin creates its organization's first crm.app_user, whose id
#      the application then puts into crm.user_id.  One application role
#      (user level, any organization) serves both tenants, as a shared pool
#      does.
#   2. SQLAlchemy with psycopg2 (test/clients/clients.py sqlalchemy):
#      reflection of schema crm, create/read/update/soft delete under
#      row-level security with the tenant set per transaction.
#   3. PgBouncer in transaction pooling mode, started here on its own port
#      (PGPORT+100) and unix socket, no TCP, against the test cluster
#      (test/clients/clients.py pgbouncer): two tenants' transactions
#      interleaved on shared server connections; SET LOCAL never shows one
#      tenant's rows to another; a session-level SET does (asserted, because
#      that is why it is documented as unsafe).
#
# Uses the running cluster (PGHOST/PGPORT/PGUSER from scripts/test.sh) and
# Debian's python3-sqlalchemy, python3-psycopg2 and pgbouncer (CRM_DEPS in
# scripts/lib.sh).  Prints PASS/FAIL lines; exits non-zero on a failure.
set -uo pipefail
ROOT=${CRM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3                     # the interpreter Debian's packages are for
PGBOUNCER=/usr/sbin/pgbouncer
db=crm_clients
app=crm_clients_app
failed=0
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }
psqlq() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

for tool in "$PY" "$PGBOUNCER"; do
	[ -x "$tool" ] || { fail "$tool is missing (scripts/lib.sh installs it)"; exit 1; }
done

bdir=$(mktemp -d /tmp/crm-bouncer.XXXXXX)
bouncer_pid=
cleanup() {
	if [ -n "$bouncer_pid" ]; then
		kill "$bouncer_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$bouncer_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
	for r in $app crm_clients_admin_a crm_clients_admin_b; do
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
	done
	rm -rf "$bdir"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# 1. First-admin steps.
# ---------------------------------------------------------------------------
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
psqlq -d postgres -c "CREATE DATABASE $db"
for r in $app crm_clients_admin_a crm_clients_admin_b; do
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
done
psqlq -d $db -c "CREATE EXTENSION crm" >/dev/null
org_a=$(psqlq -d $db -c "SELECT crm.create_organization('Clients A')")
org_b=$(psqlq -d $db -c "SELECT crm.create_organization('Clients B')")
psqlq -d $db >/dev/null <<SQL
CREATE ROLE crm_clients_admin_a LOGIN;
CREATE ROLE crm_clients_admin_b LOGIN;
SELECT crm.grant_access('crm_clients_admin_a', 'admin', ARRAY['$org_a']::uuid[]);
SELECT crm.grant_access('crm_clients_admin_b', 'admin', ARRAY['$org_b']::uuid[]);
CREATE ROLE $app LOGIN;
SELECT crm.grant_access('$app', 'user');
-- No search_path setting: crm's operators resolve with the default path.
SQL
# The first user of each organization, created by its admin (no crm.user_id
# yet: a system write).
user_a=$(psqlq -U crm_clients_admin_a -d $db -c "SET crm.organization_id = '$org_a'" \
	-c "INSERT INTO crm.app_user (name, email) VALUES ('Alice A', 'alice@a.example') RETURNING id")
user_b=$(psqlq -U crm_clients_admin_b -d $db -c "SET crm.organization_id = '$org_b'" \
	-c "INSERT INTO crm.app_user (name, email) VALUES ('Bob B', 'bob@b.example') RETURNING id")
# An admin restricted to A cannot create users in B.
if psqlq -U crm_clients_admin_a -d $db -c "SET crm.organization_id = '$org_b'" \
	-c "INSERT INTO crm.app_user (name, email) VALUES ('Mallory', 'm@b.example')" >/dev/null 2>&1; then
	fail "first admin: A's admin created a user in B"
else
	echo "PASS  first admin: each organization's admin creates its first crm.app_user, and only in its own organization"
fi

export CLIENTS_DB=$db CLIENTS_APP_ROLE=$app CLIENTS_ORG_A=$org_a CLIENTS_ORG_B=$org_b \
	CLIENTS_USER_A=$user_a CLIENTS_USER_B=$user_b

# ---------------------------------------------------------------------------
# 2. SQLAlchemy.
# ---------------------------------------------------------------------------
"$PY" "$ROOT/test/clients/clients.py" sqlalchemy || failed=$((failed + 1))

# ---------------------------------------------------------------------------
# 3. PgBouncer: transaction pooling, a pool of 2 server connections
#    (crm_clients) and one of 1 (crm_clients_one), same database.
# ---------------------------------------------------------------------------
bport=$((PGPORT + 100))
echo "\"$app\" \"\"" >"$bdir/userlist.txt"
cat >"$bdir/pgbouncer.ini" <<INI
[databases]
crm_clients = host=$PGHOST port=$PGPORT dbname=$db pool_size=2
crm_clients_one = host=$PGHOST port=$PGPORT dbname=$db pool_size=1

[pgbouncer]
pool_mode = transaction
listen_port = $bport
unix_socket_dir = $bdir
auth_type = trust
auth_file = $bdir/userlist.txt
max_client_conn = 20
default_pool_size = 2
min_pool_size = 0
reserve_pool_size = 0
logfile = $bdir/pgbouncer.log
pidfile = $bdir/pgbouncer.pid
INI
if [ "$(id -u)" = 0 ]; then
	chown -R postgres: "$bdir"
	runuser -u postgres -- "$PGBOUNCER" -d -q "$bdir/pgbouncer.ini"
else
	"$PGBOUNCER" -d -q "$bdir/pgbouncer.ini"
fi
for _ in $(seq 50); do [ -S "$bdir/.s.PGSQL.$bport" ] && [ -s "$bdir/pgbouncer.pid" ] && break; sleep 0.1; done
bouncer_pid=$(cat "$bdir/pgbouncer.pid" 2>/dev/null)
if [ -z "$bouncer_pid" ] || ! [ -S "$bdir/.s.PGSQL.$bport" ]; then
	fail "pgbouncer did not start"; cat "$bdir/pgbouncer.log" 2>/dev/null
else
	BOUNCER_HOST=$bdir BOUNCER_PORT=$bport BOUNCER_DB=crm_clients BOUNCER_DB_ONE=crm_clients_one \
		"$PY" "$ROOT/test/clients/clients.py" pgbouncer || failed=$((failed + 1))
fi

echo "clients: $failed failure(s)"
[ $failed = 0 ]
