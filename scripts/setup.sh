#!/usr/bin/env bash
# Installs the Debian packages convsearch needs (only the missing ones) and
# builds it. Used by run.sh and test.sh; safe to run again.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

packages=(
  build-essential cmake pkg-config git ca-certificates
  libpq-dev liblmdb-dev lmdb-utils libicu-dev libstemmer-dev libmicrohttpd-dev libjansson-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libyaml-dev
  postgresql-15 postgresql-client-15
  python3 curl clang-format
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

# The contract tests' npm packages, as package-lock.json pins them.
if [ ! tests/contract/node_modules/.package-lock.json -nt tests/contract/package-lock.json ]; then
  (cd tests/contract && npm ci --no-audit --no-fund --loglevel=error)
fi

werror=OFF
[ "${CI:-}" = true ] && werror=ON
cmake -S . -B "$build" -DCS_WERROR=$werror "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
