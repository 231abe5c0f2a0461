#!/usr/bin/env bash
# Builds every libFuzzer harness of test/fuzz and runs each for a short,
# bounded time (FUZZ_SECONDS, default 20).  Exits non-zero when a harness
# does not build or finds a crash (the input is left in test/fuzz/build/).
# Installs clang and the libFuzzer runtime (libclang-rt-14-dev) when missing.
set -euo pipefail

root=${CRM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
seconds=${FUZZ_SECONDS:-20}

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Can clang link a libFuzzer binary?
fuzzer_works() {
	local dir
	dir=$(mktemp -d)
	printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void) d; (void) n; return 0; }\n' >"$dir/t.c"
	if command -v clang >/dev/null && clang -fsanitize=fuzzer,address,undefined "$dir/t.c" -o "$dir/t" 2>/dev/null; then
		rm -rf "$dir"
		return 0
	fi
	rm -rf "$dir"
	return 1
}

if ! fuzzer_works; then
	echo "fuzz: installing clang and libclang-rt-14-dev" >&2
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
	fuzzer_works || { echo "fuzz: clang cannot build libFuzzer harnesses" >&2; exit 1; }
fi

make -C "$root/test/fuzz" -s build CC=clang
log=$root/test/fuzz/build/run.log
status=0
make -C "$root/test/fuzz" -s run CC=clang MAX_TOTAL_TIME="$seconds" >"$log" 2>&1 || status=$?
if [ "$status" != 0 ]; then
	tail -n 60 "$log"
	echo "fuzz: FAILED (full log: $log)" >&2
	exit "$status"
fi
grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
echo "fuzz: no crash"
