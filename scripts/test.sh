#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds twice (plain with
# -Werror, and with AddressSanitizer + UndefinedBehaviorSanitizer), and runs
# every test of both builds with CTest. Each build's tests get a private
# PostgreSQL cluster (a CTest fixture starts and stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-}
scripts/setup.sh build -DCS_WERROR=ON
scripts/setup.sh build-asan -DCS_WERROR=ON -DCS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
if [ ! -d ../shared/corpora ]; then
  echo "note: ../shared is absent; tests that read its corpora print SKIPPED"
fi
status=0
echo "== tests (release build)"
(cd build && ctest --output-on-failure -j2 --timeout 600) || status=1
echo "== tests (ASan + UBSan build)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j2 --timeout 900) || status=1
exit $status
