#!/usr/bin/env bash
# bench/sales_ab.sh — the stage-change figures of bench/sales.sh before and
# after a change, measured side by side.
#
#   git archive main | (mkdir -p /tmp/crm-before && tar -x -C /tmp/crm-before)
#   CRM_PGPORT=54354 CRM_PGPORT_BEFORE=54344 BENCH_SALES_OPPS=100000 \
#     bench/sales_ab.sh /tmp/crm-before
#
# Generates the data of bench/sales.sh (this checkout's script, copied into
# BEFORE) in two clusters at once -- BEFORE's build on CRM_PGPORT_BEFORE,
# this checkout's on CRM_PGPORT -- and then runs every write figure in short
# pgbench slices, alternating between the two clusters and between crm, the
# bare copy and the twin: on a shared machine the load changes within
# seconds, and slices next to each other see about the same load.  Prints
# each figure's mean tps before and after and the ratios.  Logs and pgbench
# outputs: bench/out-sales-ab/.
#
# Environment: BENCH_SALES_OPPS (default 100000), BENCH_SALES_AB_ROUNDS
# (default 6), BENCH_SALES_AB_SLICE (seconds per slice, default 4),
# CRM_PGPORT, CRM_PGPORT_BEFORE.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
AFTER=$(cd "$BENCH_DIR/.." && pwd)
BEFORE=$(cd "${1:?usage: bench/sales_ab.sh BEFORE_CHECKOUT}" && pwd)
ROUNDS=${BENCH_SALES_AB_ROUNDS:-6}
SLICE=${BENCH_SALES_AB_SLICE:-4}
PORT_AFTER=${CRM_PGPORT:?set CRM_PGPORT}
PORT_BEFORE=${CRM_PGPORT_BEFORE:?set CRM_PGPORT_BEFORE (another free port)}
export BENCH_SALES_OPPS=${BENCH_SALES_OPPS:-100000}
LOGS=$BENCH_DIR/out-sales-ab
rm -rf "$LOGS"
mkdir -p "$LOGS"
cp "$BENCH_DIR/sales.sh" "$BEFORE/bench/sales.sh"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Each side's cluster, generated and left running.
stop_all() {
	for side in before after; do
		[ -f "$LOGS/$side.env" ] || continue
		(
			. "$LOGS/$side.env"
			if [ "$(id -u)" = 0 ]; then
				runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$BENCH_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
			else
				/usr/lib/postgresql/15/bin/pg_ctl -D "$BENCH_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
			fi
		)
	done
}
trap stop_all EXIT
for side in before after; do
	if [ $side = before ]; then root=$BEFORE port=$PORT_BEFORE; else root=$AFTER port=$PORT_AFTER; fi
	say "generating $BENCH_SALES_OPPS opportunities for $side ($root, port $port)"
	CRM_PGPORT=$port CRM_PGDIR=$root/.pg-bench-sales BENCH_SALES_GENERATE_ONLY=1 "$root/bench/sales.sh" >"$LOGS/generate-$side.log" 2>&1
	cp "$root/bench/out-sales/env" "$LOGS/$side.env"
	mkdir -p "$LOGS/$side"
	cp "$root"/bench/out-sales/*.sql "$LOGS/$side/"
	cat "$root/bench/out-sales/summary.txt"
done

declare -A tps_sum
slice() { # side key clients script
	local side=$1 key=$2 c=$3 f=$4 o="$LOGS/$1/$2.out"
	(
		. "$LOGS/$side.env"
		PGOPTIONS="-c crm.organization_id=$BENCH_ORG" pgbench -n -U "$BENCH_ROLE" -c "$c" -j 2 -T "$SLICE" \
			--max-tries=1000 -f "$LOGS/$side/$f" "$BENCH_DB" >"$o" 2>&1 || true
	)
	tps_sum[$side.$key]=$(awk -v a="${tps_sum[$side.$key]:-0}" -v b="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$o" | head -1)" \
		'BEGIN { printf "%.3f", a + b }')
}
configs="crm1:1:crm_move.sql bare1:1:bare_move.sql twin1:1:twin_move.sql crm8:8:crm_hot.sql bare8:8:bare_hot.sql crm32:32:crm_hot.sql bare32:32:bare_hot.sql"
for r in $(seq 1 "$ROUNDS"); do
	say "round $r of $ROUNDS, load $(cut -d' ' -f1-3 /proc/loadavg)"
	# which side goes first alternates between rounds
	if [ $((r % 2)) = 1 ]; then sides="before after"; else sides="after before"; fi
	for cfg in $configs; do
		IFS=: read -r key c f <<<"$cfg"
		for side in $sides; do slice "$side" "$key" "$c" "$f"; done
	done
done

drift() { # side: stints or roll-up rows that crm.verify() finds wrong
	(. "$LOGS/$1.env"; psql -X -q -A -t -d "$BENCH_DB" -c "SELECT count(*) FROM crm.verify() WHERE \"check\" IN ('pipeline_rollup', 'pipeline_stage_rollup', 'opportunity_history')")
}
m() { awk -v a="${tps_sum[$1]}" -v n="$ROUNDS" 'BEGIN { printf "%.0f", a / n }'; }
q() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "$BENCH_SALES_OPPS opportunities; $ROUNDS rounds of ${SLICE}-second pgbench slices per figure and side;" \
		"crm.verify() drift after the runs: before $(drift before), after $(drift after)"
	echo
	echo "| figure | before | after | after / before |"
	echo "| --- | ---: | ---: | ---: |"
	for cfg in $configs; do
		IFS=: read -r key c f <<<"$cfg"
		echo "| $key ($c clients, $f), changes/s | $(m before.$key) | $(m after.$key) | $(q "$(m after.$key)" "$(m before.$key)") |"
	done
	for pair in crm1/bare1 crm1/twin1 twin1/bare1 crm8/bare8 crm32/bare32; do
		a=${pair%/*} b=${pair#*/}
		echo "| ratio $a / $b | $(q "$(m before.$a)" "$(m before.$b)") | $(q "$(m after.$a)" "$(m after.$b)") | |"
	done
} | tee "$LOGS/result.md"
