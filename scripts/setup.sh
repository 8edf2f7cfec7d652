#!/usr/bin/env bash
# Installs the Debian packages convsearch needs (only the missing ones) and
# builds it. Used by run.sh and test.sh; safe to run again. (The JDK and Maven
# run the mirror tests' OpenSearch node, scripts/opensearch.sh.)
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

# clang and libclang-rt-14-dev: the libFuzzer harnesses (scripts/fuzz.sh, CTest's fuzz_*).
packages=(
  build-essential cmake pkg-config git ca-certificates help2man
  libpq-dev liblmdb-dev lmdb-utils libicu-dev libstemmer-dev libmicrohttpd-dev libjansson-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev liblz4-dev libjemalloc-dev
  postgresql-15 postgresql-client-15
  python3 curl clang-format clang libclang-rt-14-dev
  chromium
  openjdk-17-jdk-headless maven
  mythes-es hunspell-es libhunspell-dev
)
# Node.js and npm run the OpenAPI contract tests (tests/contract/): Debian's
# packages only when none is installed (any Node.js >= 18.17 will do).
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, as each package-lock.json pins them: the contract tests',
# the console's Chart.js and the console's browser test (playwright-core,
# which drives Debian's chromium: no browser is downloaded).
for d in tests/contract console tests/console; do
  if [ ! $d/node_modules/.package-lock.json -nt $d/package-lock.json ]; then
    (cd $d && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

werror=OFF
[ "${CI:-}" = true ] && werror=ON
cmake -S . -B "$build" -DCS_WERROR=$werror "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
