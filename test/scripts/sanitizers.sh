#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the regression suite.
#
# crm is built with -fsanitize=address,undefined in a scratch copy of the
# checkout, installed into a private install tree of its own (the overlay idea
# of scripts/lib.sh) and loaded into a second throwaway cluster whose
# postmaster runs with the ASan runtime preloaded.  Then pg_regress, the
# isolation specs and pgTAP run against that cluster, and the run passes only
# when:
#   - every suite passes;
#   - no sanitizer report was written (report files or lines in the server log);
#   - no server process died ("terminated by signal" / PANIC in the server log);
# and, so that a clean result means something, a canary module built with the
# same flags does trip both sanitizers in the same cluster.
#
# Runs from scripts/test.sh (which passes the main cluster's PGHOST/PGPORT,
# PGDATA_DIR and OVERLAY_BIN) or on its own; it never touches the main
# cluster, the main build or the checkout's .pg/ tree.  The sanitizer cluster
# uses the port CRM_SAN_PGPORT (default PGPORT+1) on a socket directory of its
# own, and is stopped in every case.  On failure the scratch directory (server
# log, sanitizer reports, regression diffs) is kept and its path printed.
#
# The recipe, and why each piece is there:
#   - The postgres executable is not instrumented, so the ASan runtime must be
#     loaded before anything else: LD_PRELOAD=$(gcc -print-file-name=libasan.so)
#     in the environment of pg_ctl (hence of the postmaster and every backend
#     it forks).  Without it, dlopen of crm.so fails with "ASan runtime does
#     not come first in initial library list".  The preloaded runtime also
#     interposes siglongjmp, so ereport(ERROR) unwinding through crm's
#     instrumented frames unpoisons their stack correctly.
#   - Two more problems of a preloaded runtime are solved by a second
#     preloaded object, test/sanitizers/preload.c (details there): the
#     postmaster hanging at startup in bindtextdomain() (ASan initialising
#     lazily inside glibc's gettext lock), and UBSAN_OPTIONS being ignored in
#     backends (the runtime reads /proc/self/environ, which the postmaster
#     overwrites with its process title).
#   - detect_leaks=0: LeakSanitizer would report what the postmaster and
#     backends legitimately leave to process exit (PostgreSQL frees memory by
#     context reset, not free()).
#   - abort_on_error=1 / halt_on_error=1 (and -fno-sanitize-recover=all at
#     build time): the first report kills the backend with SIGABRT, so it shows
#     as "terminated by signal 6" in the server log and fails the test that
#     triggered it.
#   - ASan's log_path: its reports go to files in a directory the postgres
#     user can write, one per process.  UBSan (gcc's libubsan next to a
#     preloaded libasan) ignores log_path and writes to stderr, i.e. the
#     server log, which is searched too.
#   - -fwrapv is part of PostgreSQL's CFLAGS, so signed overflow is defined
#     behaviour here and UBSan does not flag it (as in PostgreSQL itself).
#   - Limitation: PostgreSQL's palloc carves chunks out of malloc'd blocks, and
#     the distribution build has no ASan hooks in its memory contexts, so an
#     overrun of a palloc'd chunk is caught only when it leaves the block.
#     Stack, global and malloc'd memory of crm.so are fully checked, and UBSan
#     checks all of crm's code.
set -uo pipefail

root=${CRM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
san_port=${CRM_SAN_PGPORT:-$((${PGPORT:-54329} + 1))}
SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
failed=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }
t0=$(date +%s)
t_lap=$t0
lap() { # seconds since the last lap
	local now
	now=$(date +%s)
	echo "$((now - t_lap)) s"
	t_lap=$now
}

# The sanitizer runtimes come with gcc's libasan/libubsan packages.
libasan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$libasan" ] || [ ! -e "$(gcc -print-file-name=libubsan.so)" ]; then
	echo "sanitizers: installing libasan8 and libubsan1" >&2
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libasan8 libubsan1 >/dev/null
	libasan=$(gcc -print-file-name=libasan.so)
fi
libasan=$(readlink -f "$libasan")

. "$root/test/sanitizers/scratch.sh"
scratch_init crm-san
SAN_LOGS=$WORK/reports
mkdir -p "$SAN_LOGS"
if [ "$(id -u)" = 0 ]; then chown postgres: "$SAN_LOGS"; fi

cleanup() {
	scratch_stop
	if [ "$failed" = 0 ] && [ -z "${CRM_SAN_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "sanitizers: logs and reports kept in $WORK" >&2
	fi
}
trap cleanup EXIT
trap 'failed=$((failed + 1)); exit 1' INT TERM

# 1. Scratch copy of the source and instrumented build.
scratch_copy
lap >/dev/null
scratch_build "$SAN_FLAGS"
pass "crm builds with $SAN_FLAGS ($(lap))"
syms=$(nm -D "$SRC/crm.so")
if grep -q '__asan_report' <<<"$syms" && grep -q '__ubsan_handle' <<<"$syms"; then
	pass "crm.so is instrumented (calls into the ASan and UBSan runtimes)"
else
	fail "crm.so is instrumented (calls into the ASan and UBSan runtimes)"
fi

# 2. Private install tree.
scratch_overlay

# 3. The sanitizer cluster, configured as the main test cluster.
gcc -shared -fPIC -O2 -Wall -Werror -o "$WORK/preload.so" "$SRC/test/sanitizers/preload.c" -ldl || {
	fail "test/sanitizers/preload.c builds"
	exit 1
}
preload="$libasan:$WORK/preload.so"
scratch_initdb "$san_port"
cat >>"$DATA/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_cron'
cron.database_name = 'contrib_regression'
CONF
asan_options="detect_leaks=0:abort_on_error=1:halt_on_error=1:disable_coredump=1:log_path=$SAN_LOGS/asan"
ubsan_options="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
if as_pg env LD_PRELOAD="$preload" ASAN_OPTIONS="$asan_options" UBSAN_OPTIONS="$ubsan_options" \
	"$PGBIN/pg_ctl" -D "$DATA" -p "$OVERLAY_BIN/postgres" -l "$SERVER_LOG" -w -t 60 start >/dev/null; then
	pass "sanitizer cluster started (port $san_port, socket $SOCK, ASan runtime preloaded)"
else
	cat "$SERVER_LOG"
	fail "sanitizer cluster started"
	exit 1
fi
export PGHOST=$SOCK PGPORT=$san_port PGUSER=postgres
export PATH=$PGBIN:$PATH
unset PGDATABASE

# The runtime is really in the server (backends are forks of the postmaster).
pm_pid=$(head -n 1 "$DATA/postmaster.pid")
if grep -q libasan "/proc/$pm_pid/maps" 2>/dev/null; then
	pass "postmaster has the ASan runtime mapped"
else
	fail "postmaster has the ASan runtime mapped"
fi

# 4. The suites.
lap >/dev/null
make -C "$SRC" -s installcheck >"$WORK/installcheck.log" 2>&1
rc=$?
grep -E '^test |tests passed|failed' "$WORK/installcheck.log" | sed 's/^/    /'
if [ $rc = 0 ]; then
	pass "pg_regress and isolation specs under the sanitizers ($(lap))"
else
	for f in "$SRC/regression.diffs" "$SRC/output_iso/regression.diffs"; do
		[ -s "$f" ] && head -n 100 "$f"
	done
	fail "pg_regress and isolation specs under the sanitizers"
fi

if command -v pg_prove >/dev/null && ls "$SRC"/test/pgtap/*.sql >/dev/null 2>&1; then
	lap >/dev/null
	psql -q -X -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS crm_tap" -c "CREATE DATABASE crm_tap" >/dev/null
	psql -q -X -d crm_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION crm" >/dev/null
	if pg_prove -d crm_tap --failures "$SRC"/test/pgtap/*.sql >"$WORK/pgtap.log" 2>&1; then
		pass "pgTAP under the sanitizers ($(lap))"
	else
		cat "$WORK/pgtap.log"
		fail "pgTAP under the sanitizers"
	fi
fi

# 5. Clean?  No report file, no report line, no process killed.
reports=$(find "$SAN_LOGS" -type f | sort)
if [ -z "$reports" ] && ! grep -qE 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$SERVER_LOG"; then
	pass "no ASan or UBSan report"
else
	for r in $reports; do
		echo "---- $r"
		head -n 60 "$r"
	done
	grep -nE -A 30 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$SERVER_LOG" | head -n 80
	fail "no ASan or UBSan report"
fi
if ! grep -qE 'terminated by signal|was terminated by exception|PANIC:' "$SERVER_LOG"; then
	pass "no server process crashed"
else
	grep -nE 'terminated by signal|was terminated by exception|PANIC:' "$SERVER_LOG" | head -n 20
	fail "no server process crashed"
fi

# 6. The net is live: a canary module (test/sanitizers/canary.c), built with
#    the same flags, makes a heap overflow and a shift out of range in a
#    backend; each must produce a report and kill that backend.  (Run last: the postmaster reinitialises
#    after each kill.)
# shellcheck disable=SC2086
gcc -shared -fPIC $SAN_FLAGS -I"$(pg_config --includedir-server)" -o "$WORK/canary.so" "$SRC/test/sanitizers/canary.c" 2>"$WORK/canary.log"
chmod 755 "$WORK/canary.so" 2>/dev/null
# Everything the sanitizers have said: report files and server log.
said() { cat "$SAN_LOGS"/* "$SERVER_LOG" 2>/dev/null; }
canary() { # name, function, argument, pattern expected in the report
	local name=$1 fn=$2 arg=$3 pattern=$4
	said >"$WORK/said.before"
	psql -X -q -d postgres -c "CREATE OR REPLACE FUNCTION pg_temp.$fn(int) RETURNS int AS '$WORK/canary.so', '$fn' LANGUAGE C STRICT" \
		-c "SELECT pg_temp.$fn($arg)" >/dev/null 2>&1
	# Wait for the postmaster to finish crash recovery before the next step.
	for _ in $(seq 1 60); do psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
	# (grep -c, not -q: an early exit would fail the pipeline under pipefail)
	if [ "$(said | grep -vxFf "$WORK/said.before" | grep -cE "$pattern")" -gt 0 ]; then
		pass "canary: $name is reported"
	else
		fail "canary: $name is reported"
	fi
	if [ "$(grep -A 1 'terminated by signal 6' "$SERVER_LOG" | grep -c "running: SELECT pg_temp.$fn")" -gt 0 ]; then
		pass "canary: $name kills the backend (signal 6)"
	else
		fail "canary: $name kills the backend (signal 6)"
	fi
}
if [ -s "$WORK/canary.so" ]; then
	canary "heap overflow (ASan)" canary_heap_overflow 16 'ERROR: AddressSanitizer: heap-buffer-overflow'
	canary "shift out of range (UBSan)" canary_bad_shift 40 'runtime error: shift exponent 40'
	if [ "$(said | grep -cE '^ +#[0-9]+ .* in canary_bad_shift .*canary\.c:')" -gt 0 ]; then
		pass "canary: the UBSan report has a stack trace (UBSAN_OPTIONS applied)"
	else
		fail "canary: the UBSan report has a stack trace (UBSAN_OPTIONS applied)"
	fi
else
	cat "$WORK/canary.log"
	fail "canary module builds"
fi

echo "sanitizers: $(($(date +%s) - t0)) s in all, $failed failure(s)"
[ "$failed" = 0 ]
