#!/usr/bin/env bash
# The standalone unit tests of the pure C code, plain and under
# AddressSanitizer/UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/../unit"
make -s clean
make -s check
make -s check-asan
make -s clean
