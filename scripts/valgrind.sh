#!/usr/bin/env bash
# The regression suite (pg_regress + isolation specs) against a server running
# under valgrind's memcheck, with crm built -O1 -g in a scratch copy of the
# checkout.  A manual command, not part of scripts/test.sh or CI: it takes
# minutes.  Results and how to read them: doc/testing.md, "Sanitizers and
# valgrind".
#
#   scripts/valgrind.sh                 the whole suite
#   scripts/valgrind.sh uuid types      only these pg_regress tests (no
#                                       isolation specs)
#
# Environment: CRM_VG_PGPORT (default 54331), CRM_VG_KEEP=1 keeps the scratch
# directory (logs) even when the run is clean, CRM_VG_OPTS adds valgrind
# options (the last of a repeated option wins): to survey reports without
# crash restarts, CRM_VG_OPTS="--error-exitcode=0 --gen-suppressions=all".
#
# Every server process runs under
#   valgrind --tool=memcheck --trace-children=yes --track-origins=yes
#            --leak-check=no --num-callers=30 --error-limit=no
#            --error-exitcode=128 --suppressions=test/sanitizers/valgrind.supp
#            --log-file=<scratch>/valgrind/%p.log
# so a memcheck error makes the process exit with status 128 at its end, which
# the postmaster logs (and answers with a crash restart).  The run fails when
# the suite fails, when any valgrind log holds an error, or when a server
# process died.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${CRM_VG_PGPORT:-54331}
failed=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
t0=$(date +%s)

if ! command -v valgrind >/dev/null; then
	echo "valgrind: installing valgrind" >&2
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi

. "$root/test/sanitizers/scratch.sh"
scratch_init crm-vg
VG_LOGS=$WORK/valgrind
mkdir -p "$VG_LOGS"
if [ "$(id -u)" = 0 ]; then chown postgres: "$VG_LOGS"; fi
cleanup() {
	scratch_stop
	if [ "$failed" = 0 ] && [ -z "${CRM_VG_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "valgrind: logs kept in $WORK" >&2
	fi
}
trap cleanup EXIT
trap 'failed=$((failed + 1)); exit 1' INT TERM

scratch_copy
# -O1: optimised code confuses memcheck's definedness tracking less than -O2
# (partial-word loads of vectorised loops).
scratch_build "-O1 -g -fno-omit-frame-pointer"
scratch_overlay
scratch_initdb "$port"
# Everything is ~20x slower: give the isolation tester's lock waits room.
cat >>"$DATA/postgresql.conf" <<CONF
deadlock_timeout = 5s
CONF
cp "$SRC/test/sanitizers/valgrind.supp" "$WORK/valgrind.supp"
chmod 644 "$WORK/valgrind.supp"

vg_cmd=(valgrind --quiet --tool=memcheck --trace-children=yes --track-origins=yes
	--leak-check=no --num-callers=30 --error-limit=no --error-exitcode=128
	--suppressions=/usr/libexec/valgrind/default.supp
	--suppressions="$WORK/valgrind.supp"
	--log-file="$VG_LOGS/%p.log" ${CRM_VG_OPTS:-})
echo "valgrind: ${vg_cmd[*]} $OVERLAY_BIN/postgres -D $DATA" >&2
as_pg "${vg_cmd[@]}" "$OVERLAY_BIN/postgres" -D "$DATA" >"$SERVER_LOG" 2>&1 &
server=$!
for _ in $(seq 1 240); do
	"$PGBIN/pg_isready" -q -h "$SOCK" -p "$port" -U postgres && break
	kill -0 "$server" 2>/dev/null || break
	sleep 0.5
done
if "$PGBIN/pg_isready" -q -h "$SOCK" -p "$port" -U postgres; then
	pass "server started under valgrind ($(($(date +%s) - t0)) s)"
else
	cat "$SERVER_LOG"
	fail "server started under valgrind"
	exit 1
fi
export PGHOST=$SOCK PGPORT=$port PGUSER=postgres
export PATH=$PGBIN:$PATH
unset PGDATABASE

t1=$(date +%s)
if [ $# -gt 0 ]; then
	make -C "$SRC" -s installcheck REGRESS="$*" ISOLATION= >"$WORK/installcheck.log" 2>&1
else
	make -C "$SRC" -s installcheck >"$WORK/installcheck.log" 2>&1
fi
rc=$?
grep -E '^(test|ok|not ok) |tests passed|failed' "$WORK/installcheck.log" | sed 's/^/    /'
if [ $rc = 0 ]; then
	pass "suite under valgrind ($(($(date +%s) - t1)) s)"
else
	for f in "$SRC/regression.diffs" "$SRC/output_iso/regression.diffs"; do
		[ -s "$f" ] && head -n 100 "$f"
	done
	fail "suite under valgrind ($(($(date +%s) - t1)) s)"
fi

# The net is live: a canary module (test/sanitizers/canary.c) branches on
# malloc'd memory never written, in a backend of its own.  memcheck must
# report it in that backend's log, with the canary's frame, and the backend
# must exit with valgrind's error status.  That process is left out of the
# counts below.
gcc -shared -fPIC -O0 -g -I"$(pg_config --includedir-server)" -o "$WORK/canary.so" "$SRC/test/sanitizers/canary.c"
chmod 755 "$WORK/canary.so"
canary_pid=$(psql -X -q -A -t -d postgres -c "SELECT pg_backend_pid()" \
	-c "CREATE FUNCTION pg_temp.canary_uninit(int) RETURNS int AS '$WORK/canary.so', 'canary_uninit' LANGUAGE C STRICT" \
	-c "SELECT pg_temp.canary_uninit(4)" 2>/dev/null | head -n 1)
for _ in $(seq 1 120); do
	"$PGBIN/pg_isready" -q -h "$SOCK" -p "$port" -U postgres &&
		grep -q "PID $canary_pid) exited" "$SERVER_LOG" && break
	sleep 0.5
done
if grep -qE 'Conditional jump or move depends on uninitialised' "$VG_LOGS/$canary_pid.log" 2>/dev/null &&
	grep -qE 'canary_uninit \(canary\.c:[0-9]+\)' "$VG_LOGS/$canary_pid.log"; then
	pass "canary: memcheck reports the uninitialised read in canary_uninit"
else
	fail "canary: memcheck reports the uninitialised read in canary_uninit"
fi
if grep -q "PID $canary_pid) exited with exit code 128" "$SERVER_LOG"; then
	pass "canary: its backend exits with valgrind's error status"
else
	fail "canary: its backend exits with valgrind's error status"
fi
mv "$VG_LOGS/$canary_pid.log" "$WORK/canary-$canary_pid.log" 2>/dev/null

# Stop the server cleanly so that every process writes its error summary.
as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 300 stop >/dev/null 2>&1

logs=$(ls "$VG_LOGS"/*.log 2>/dev/null | wc -l)
errors=$(cat "$VG_LOGS"/*.log 2>/dev/null | grep -cE '^==[0-9]+== (Invalid|Conditional|Use of uninitialised|Syscall param|Source and destination overlap|Mismatched|Argument)')
# A frame in crm shows as "(in .../crm.so)" or, with its debug info, as
# "(file.c:line)" for one of crm's source files.
crm_files=$(cd "$SRC/src" && ls *.c | sed 's/\./\\./' | paste -sd'|')
crm_errors=$(cat "$VG_LOGS"/*.log 2>/dev/null | grep -cE "^==[0-9]+== +(at|by) .*(crm\.so\)|\(($crm_files):[0-9]+\))")
echo "valgrind: $logs process logs, $errors error(s), $crm_errors stack line(s) in crm code"
if [ "$errors" = 0 ]; then
	pass "no memcheck error"
else
	for f in "$VG_LOGS"/*.log; do
		[ -s "$f" ] && { echo "---- $f"; head -n 80 "$f"; }
	done | head -n 400
	fail "no memcheck error"
fi
# Every death but the canary's.
deaths=$(grep -E 'terminated by signal|exited with exit code 128|PANIC:' "$SERVER_LOG" | grep -v "PID $canary_pid)")
if [ -z "$deaths" ]; then
	pass "no other server process crashed or exited with valgrind's error status"
else
	echo "$deaths" | head -n 20
	fail "no other server process crashed or exited with valgrind's error status"
fi

echo "valgrind: $(($(date +%s) - t0)) s in all, $failed failure(s)"
[ "$failed" = 0 ]
