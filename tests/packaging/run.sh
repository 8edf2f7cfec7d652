#!/usr/bin/env bash
# Packaging test: `cmake --install` into a staging prefix and the Debian
# package (cpack -G DEB, then dpkg-deb -x into a temporary root); checks the
# layout, the package's dependencies and maintainer scripts, that the
# installed programs answer --help, that the installed Python client
# imports, and that the installed server starts from its systemd unit's
# command line with the example settings (over an index built by the
# installed indexer from the HTTP tests' fixture).
#   tests/packaging/run.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SOURCE_DIR WORK_DIR}
src=${2:?}
work=${3:?}
rm -rf "$work"
mkdir -p "$work"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
has() { [ -e "$1" ] || fail "missing $1"; }

# ---- cmake --install into a staging prefix
prefix=$work/prefix
version=$(sed -n 's/^project(convsearch VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in bin/convsearch-indexer bin/convsearch-server \
  share/convsearch/schemas/canonical.sql share/convsearch/schemas/capture.sql \
  share/convsearch/schemas/canonical_capture.sql share/convsearch/schemas/portal.sql \
  share/convsearch/schemas/opensearch/template.json share/convsearch/openapi.yaml \
  share/convsearch/convsearch.conf lib/systemd/system/convsearch-indexer.service \
  lib/systemd/system/convsearch-server.service lib/sysusers.d/convsearch.conf \
  lib/python3/dist-packages/convsearch/__init__.py lib/python3/dist-packages/convsearch/portal.py \
  share/doc/convsearch/README.md share/man/man1/convsearch-indexer.1 \
  share/man/man1/convsearch-server.1; do
  has "$prefix/$f"
done
# The analyst console, where its build (console/CMakeLists.txt) exists.
[ -f "$src/console/CMakeLists.txt" ] && has "$prefix/share/convsearch/console/index.html"
grep -qx "ExecStart=$prefix/bin/convsearch-indexer run --config $prefix/etc/convsearch/convsearch.conf" \
  "$prefix/lib/systemd/system/convsearch-indexer.service" || fail "the staged indexer unit's ExecStart"
grep -qx "ExecStart=$prefix/bin/convsearch-server --config $prefix/etc/convsearch/convsearch.conf" \
  "$prefix/lib/systemd/system/convsearch-server.service" || fail "the staged server unit's ExecStart"
for p in convsearch-indexer convsearch-server; do
  # (grep reads it all: with -q it may stop first, and the program's next
  # write dies of SIGPIPE, failing the pipe under pipefail)
  "$prefix/bin/$p" --help | grep "usage: $p" >/dev/null || fail "$prefix/bin/$p --help"
  [ "$("$prefix/bin/$p" --version)" = "$p $version" ] || fail "$p --version is not $version"
done
grep -q '^\.TH CONVSEARCH-SERVER' "$prefix/share/man/man1/convsearch-server.1" || fail "man page"
PYTHONPATH=$prefix/lib/python3/dist-packages PYTHONDONTWRITEBYTECODE=1 python3 -c '
import sys, convsearch, convsearch.portal
assert convsearch.mint_token(b"secret\n", 1, 60).startswith("v1.")
assert convsearch.__version__ == sys.argv[1], convsearch.__version__' "$version" ||
  fail "the installed Python client (imported, mints, version $version)"
if command -v systemd-analyze >/dev/null; then
  # The staged units against systemd itself (unknown keys, bad values, a
  # program that is not there): any warning fails.
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
    "$prefix"/lib/systemd/system/convsearch-{indexer,server}.service >"$work/verify.log" 2>&1 &&
    [ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify"; }
fi
echo "staged install: checked"

# ---- the Debian package
(cd "$build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log") || { cat "$work/cpack.log" >&2; exit 1; }
deb=$(ls "$work"/deb/convsearch_*.deb)
dpkg-deb -c "$deb" >"$work/contents.txt"
echo "package $(basename "$deb"):"
awk '{print "  " $1, $6}' "$work/contents.txt"
for f in ./usr/bin/convsearch-indexer ./usr/bin/convsearch-server \
  ./usr/lib/systemd/system/convsearch-indexer.service ./usr/lib/systemd/system/convsearch-server.service \
  ./usr/lib/sysusers.d/convsearch.conf ./usr/share/convsearch/openapi.yaml \
  ./usr/share/convsearch/convsearch.conf ./usr/share/convsearch/schemas/portal.sql \
  ./usr/lib/python3/dist-packages/convsearch/client.py ./usr/share/man/man1/convsearch-indexer.1; do
  grep -q " $f\$" "$work/contents.txt" || fail "the package lacks $f"
done
[ -f "$src/console/CMakeLists.txt" ] && { grep -q ' ./usr/share/convsearch/console/index.html$' "$work/contents.txt" ||
  fail "the package lacks the console"; }
grep -q ' ./usr/bin/convsearch-server$' "$work/contents.txt" &&
  grep ' ./usr/bin/convsearch-server$' "$work/contents.txt" | grep -q '^-rwxr-xr-x' || fail "server mode"
! grep -q ' ./etc/\| ./usr/etc/\| ./var/' "$work/contents.txt" || fail "the package ships files in /etc or /var"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libpq5 liblmdb0 libicu72 libjansson4 libmicrohttpd12 libcurl4 libssl3 zlib1g libstemmer0d adduser; do
  [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib"
done
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] ||
  fail "package version is not the project's"
dpkg-deb -e "$deb" "$work/control"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "maintainer script $s"
  sh -n "$work/control/$s" || fail "$s does not parse"
done
root=$work/root
dpkg-deb -x "$deb" "$root"
for p in convsearch-indexer convsearch-server; do
  "$root/usr/bin/$p" --help | grep "usage: $p" >/dev/null || fail "$root/usr/bin/$p --help"
done
grep -qx 'ExecStart=/usr/bin/convsearch-server --config /etc/convsearch/convsearch.conf' \
  "$root/usr/lib/systemd/system/convsearch-server.service" || fail "the packaged server unit's ExecStart"
grep -qx 'ExecStart=/usr/bin/convsearch-indexer run --config /etc/convsearch/convsearch.conf' \
  "$root/usr/lib/systemd/system/convsearch-indexer.service" || fail "the packaged indexer unit's ExecStart"
for k in User=convsearch-indexer Group=convsearch StateDirectory=convsearch StateDirectoryMode=2750 \
  ProtectSystem=strict NoNewPrivileges=yes; do
  grep -qx "$k" "$root/usr/lib/systemd/system/convsearch-indexer.service" || fail "indexer unit lacks $k"
done
for k in User=convsearch-server Group=convsearch ReadWritePaths=-/var/lib/convsearch ProtectSystem=strict; do
  grep -qx "$k" "$root/usr/lib/systemd/system/convsearch-server.service" || fail "server unit lacks $k"
done
echo "package: checked"

# ---- the packaged programs start with the example settings; options given
# on the command line win over the file's (index, listen, tokens here)
# (tests/http/run.sh with `true` for its HTTP test program: only the index)
"$src/tests/http/run.sh" "$(command -v true)" "$root/usr/bin" "$src" "$work/http" >/dev/null
conf=$root/usr/share/convsearch/convsearch.conf
"$root/usr/bin/convsearch-indexer" status --config "$conf" --index "$work/http/index" >"$work/status.json" &&
  grep -q '"initial_load": *"done"' "$work/status.json" || fail "the packaged indexer's status with the example settings"
"$root/usr/bin/convsearch-indexer" status --config "$conf" 2>"$work/status.err" &&
  fail "status read the example's index /var/lib/convsearch/index, which is not there"
grep -q "/var/lib/convsearch/index" "$work/status.err" || fail "status did not take --index from the settings"
umask 077
printf 'sha256:%s admin\n' "$(printf admin-token | sha256sum | cut -d' ' -f1)" >"$work/tokens"
printf 'packaging-test-secret-0123456789\n' >"$work/secret"
head -c 32 /dev/urandom >"$work/pseudonym-secret"
grep -q '^pseudonym-secret-file = /etc/convsearch/pseudonym-secret$' "$conf" ||
  fail "the example settings name no pseudonym secret (the server cannot write the index directory)"
grep -q 'pseudonym-secret' "$src/packaging/debian/postinst" ||
  fail "postinst does not create the pseudonym secret"
python3 "$src/tests/packaging/start_unit.py" "$root" /usr/lib/systemd/system/convsearch-server.service \
  /usr/share/convsearch/convsearch.conf --index "$work/http/index" --listen 127.0.0.1:0 \
  --tokens "$work/tokens" --token-secret-file "$work/secret" \
  --pseudonym-secret-file "$work/pseudonym-secret" ||
  fail "the packaged server did not start from its unit with the example settings"

if [ "$failures" -gt 0 ]; then
  echo "packaging: $failures failures" >&2
  exit 1
fi
echo "packaging: all checks passed"
