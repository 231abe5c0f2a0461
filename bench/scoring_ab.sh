#!/usr/bin/env bash
# bench/scoring_ab.sh — bench/scoring.sh before and after a change, interleaved.
#
#   git archive ca9ba55 | (mkdir -p /tmp/crm-before && tar -x -C /tmp/crm-before)
#   BENCH_SCORING_LEADS=20000 BENCH_SCORING_EVENTS=200000 BENCH_SCORING_HOT=20000 \
#     bench/scoring_ab.sh /tmp/crm-before 3
#
# Runs this checkout's bench/scoring.sh ROUNDS times (default 3) against
# another checkout (BEFORE: its source is built, with this script copied
# into it) and against this checkout, alternately: on a shared machine
# interleaved runs see about the same load, and the figures of a round can
# be compared.  Prints each run's report, then the COPY ratios of every run
# (the runs' logs: bench/out-scoring-ab/).
# The environment of bench/scoring.sh applies (BENCH_SCORING_PLPGSQL
# defaults to 0 here: the seeds' approach does not depend on crm's code).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
AFTER=$(cd "$BENCH_DIR/.." && pwd)
BEFORE=$(cd "${1:?usage: bench/scoring_ab.sh BEFORE_CHECKOUT [ROUNDS]}" && pwd)
ROUNDS=${2:-3}
export BENCH_SCORING_PLPGSQL=${BENCH_SCORING_PLPGSQL:-0}
cp "$BENCH_DIR/scoring.sh" "$BEFORE/bench/scoring.sh"
LOGS=$BENCH_DIR/out-scoring-ab
mkdir -p "$LOGS"
summary=""
for r in $(seq 1 "$ROUNDS"); do
	for side in before after; do
		if [ $side = before ]; then root=$BEFORE; else root=$AFTER; fi
		printf '==> round %s, %s (%s), load %s\n' "$r" "$side" "$root" "$(cut -d' ' -f1-3 /proc/loadavg)"
		CRM_PGDIR=$root/.pg-bench-scoring "$root/bench/scoring.sh" >"$LOGS/$side-$r.log" 2>&1
		cat "$root/bench/out-scoring/report.md"
		summary="$summary$r $side $(sed -n 's/^| COPY .* | \([0-9.]*\)× |$/wall \1×/p; s/^| the same, CPU time .* | \([0-9.]*\)× |$/cpu \1×/p' "$root/bench/out-scoring/report.md" | tr '\n' ' ')
"
	done
done
printf '\nCOPY, crm / bare:\n%s' "$summary"
