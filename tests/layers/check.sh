#!/usr/bin/env bash
# The layers, checked with the compiler: a source of api/ compiled with
# cs_api's include directories (INCLUDES_FILE, one per line, written by
# CMake) can include its own headers, query/engine.h and util/'s, and fails
# to compile on any other header of query/ or index/. Also: only
# index/store.c includes lmdb.h.
#
#   tests/layers/check.sh CC INCLUDES_FILE SOURCE_DIR
set -euo pipefail
cc=${1:?usage: check.sh CC INCLUDES_FILE SOURCE_DIR}
includes=${2:?}
src=${3:?}

flags=()
while IFS= read -r dir; do
  [ -n "$dir" ] && flags+=("-I$dir")
done <"$includes"

fail=0
compile() { # compile TEXT: 0 when TEXT compiles as a C11 translation unit
  printf '%s\n' "$1" | "$cc" -std=c11 -D_GNU_SOURCE -fsyntax-only -x c - "${flags[@]}" 2>"$err"
}
err=$(mktemp)
trap 'rm -f "$err"' EXIT

# What api/ may see: all of it together compiles (this proves the flags).
allowed=""
for h in "$src"/api/*.h "$src"/util/*.h "$src"/query/engine.h; do
  allowed+="#include \"$(basename "$h")\""$'\n'
done
if compile "$allowed"; then
  echo "ok: api/ reaches its own headers, util/ and engine.h"
else
  echo "FAIL: api/'s own headers, util/ and engine.h do not compile with cs_api's include flags:"
  cat "$err"
  fail=1
fi

# What it may not: every other header of query/ and index/. Including one
# must fail for want of the file, or find another file of that name (a
# system header: query/search.h shares its name with <search.h>).
n=0
for h in "$src"/query/*.h "$src"/index/*.h; do
  name=$(basename "$h")
  [ "$name" = engine.h ] && continue
  n=$((n + 1))
  if compile "#include \"$name\""; then
    deps=$(printf '#include "%s"\n' "$name" |
      "$cc" -std=c11 -D_GNU_SOURCE -M -x c - "${flags[@]}" 2>/dev/null | tr ' \\' '\n\n')
    if printf '%s\n' "$deps" | grep -q "^$src/\(query\|index\)/"; then
      echo "FAIL: api/ can include $h (only query/engine.h is public)"
      fail=1
    fi
  elif ! grep -q "$name: No such file or directory" "$err"; then
    echo "FAIL: including $name fails for another reason than not finding it:"
    cat "$err"
    fail=1
  fi
done
echo "ok: $n internal headers of query/ and index/ are out of api/'s reach"

# lmdb.h belongs to index/store.c alone.
others=$(cd "$src" && grep -rlE '#\s*include\s*[<"]lmdb\.h[">]' --include='*.c' --include='*.h' \
  util index indexer query api tests bench | grep -vx index/store.c || true)
if [ -n "$others" ]; then
  echo "FAIL: lmdb.h is included outside index/store.c: $others"
  fail=1
else
  echo "ok: only index/store.c includes lmdb.h"
fi
exit $fail
