# bench/mix/mix.sh — the OLTP mix, sourced by bench/run.sh (figure f),
# test/scripts/soak.sh and test/scripts/crash_mix.sh.
MIX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The transaction types and weights of mix.conf: "NAME WEIGHT" lines.
mix_entries() { grep -Ev '^[[:space:]]*(#|$)' "$MIX_DIR/mix.conf"; }

# pgbench -f arguments for SIDE (crm or bare).
mix_scripts() { # SIDE
	local name weight
	mix_entries | while read -r name weight; do
		printf -- '-f %s@%s ' "$MIX_DIR/$name.$1.sql" "$weight"
	done
}

# "create_contact 1, create_lead 2, ..." for reports.
mix_describe() { mix_entries | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'; }

# pgbench -D definitions the scripts use, for tenant 0 of DB.
mix_defines() { # DB
	psql -X -At -d "$1" -c "SELECT format('-D n=%s -D nopp=%s -D org=%s', t.contacts, m.opportunities, t.org)
							  FROM bench.tenant t, bench.mix_setup m WHERE t.t = 0"
}

# A database for the mix outside the benchmark (soak and crash tests): crm,
# schema bench, tenant 0 with CONTACTS contacts (bench.generate(), loaded by
# COPY through the crm tables with every trigger on), a second tenant of a
# tenth of that, NOPP deals, and ROLE set up as a 'user'-level application
# role.  Prints "ORG ACTOR" of tenant 0.  Superuser connection from the
# environment (PGHOST, PGPORT, PGUSER).
mix_load() { # DB CONTACTS NOPP ROLE
	local db=$1 n=$2 nopp=$3 role=$4 gen t e
	local root
	root=$(cd "$MIX_DIR/../.." && pwd)
	gen=$(mktemp -d /tmp/crm-mix.XXXXXX)
	chmod 777 "$gen"
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL || return 1
CREATE EXTENSION IF NOT EXISTS crm;
\i $root/bench/sql/00_harness.sql
\i $root/bench/sql/10_generate.sql
\i $root/bench/sql/15_wave.sql
SELECT bench.generate(0, crm.create_organization('Mix tenant 0', 'mix-0'), $n, 2, '$gen');
SELECT bench.generate(1, crm.create_organization('Mix tenant 1', 'mix-1'), greatest($n / 10, 100), 2, '$gen');
SQL
	for t in 0 1; do
		for e in app_user custom_field account contact lead activity note; do
			psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" \
				-c "SELECT set_config('crm.organization_id', org::text, false) FROM bench.tenant WHERE t = $t" \
				-c "SELECT bench.copy_timed('crm.$e', bench.cols('$e'), '$gen/t${t}_$e.csv')" >/dev/null || return 1
		done
	done
	rm -rf "$gen"
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL || return 1
DROP ROLE IF EXISTS $role;
CREATE ROLE $role LOGIN;
SELECT crm.grant_access('$role', 'user');
GRANT USAGE ON SCHEMA bench TO $role;
GRANT SELECT ON bench.tenant TO $role;
SQL
	psql -X -q -v ON_ERROR_STOP=1 -v nopp="$nopp" -v role="$role" -d "$db" -f "$MIX_DIR/setup.sql" >/dev/null || return 1
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "VACUUM ANALYZE" >/dev/null
	psql -X -At -d "$db" -c "SELECT org || ' ' || bench.user_id(0, 1) FROM bench.tenant WHERE t = 0"
}
