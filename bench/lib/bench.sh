# bench/lib/bench.sh — helpers of bench/run.sh (sourced after scripts/lib.sh).

BENCH_DB=crm_bench
BENCH_ROLE=bench_app

# psql as the superuser in the benchmark database; stops at the first error.
su_sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }
# One value (or unaligned rows) from the superuser.
su_val() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "$1"; }
# One value from the application role: a non-superuser acting for the big
# tenant as one of its users, under row-level security.
app_val() {
	PGUSER=$BENCH_ROLE PGOPTIONS="-c crm.organization_id=${APP_ORG:-$BIG_ORG} -c crm.user_id=${APP_ACTOR:-$BIG_ACTOR} ${BENCH_PGOPTIONS_EXTRA:-}" \
		psql -X -q -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "$1"
}

# SQL string literal.
lit() { printf "'%s'" "${1//\'/\'\'}"; }

# record FIGURE LABEL SIDE VALUE UNIT KIND [TARGET_VALUE] [TARGET_RATIO] [RUNS]
record() {
	su_val "INSERT INTO bench.result (figure, label, side, value, unit, baseline_kind, target_value, target_ratio, runs)
			VALUES ($(lit "$1"), $(lit "$2"), $(lit "$3"), $4, $(lit "$5"), $(lit "$6"),
					${7:-NULL}, ${8:-NULL}, ${9:-NULL})" >/dev/null
	printf '    %-60s %-8s %s %s\n' "$2" "$3" "$4" "$5" >&2
}

# A warning: on the terminal and in the report.
warn() { echo "WARNING: $*" | tee -a "$OUT/warnings.txt" >&2; }

# Seconds since the epoch, with fractions.
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# Check a plan file: warn about sequential scans of the big tables and
# about index scans that throw most of what they read away in a filter.
check_plan() { # FILE NAME
	local f=$1 name=$2 hit
	if hit=$(grep -Eo 'Seq Scan on ([a-z_]+\.)?(contact|account|activity|lead|note|audit_log)\b' "$f" | sort -u | tr '\n' ' ') && [ -n "$hit" ]; then
		warn "$name: $hit(plan in ${f#$CRM_ROOT/})"
	fi
	if hit=$(grep -Eo 'Rows Removed by Filter: [0-9]+' "$f" | awk '$5 > 10000 { printf "%s ", $5 }') && [ -n "$hit" ]; then
		warn "$name: a scan removed $hit rows by filter: an index does not serve a condition (plan in ${f#$CRM_ROOT/})"
	fi
	return 0
}
