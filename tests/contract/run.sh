#!/usr/bin/env bash
# The OpenAPI contract tests (npm packages of package.json, installed into
# tests/contract/node_modules by scripts/setup.sh with npm ci):
#   tests/contract/run.sh lint OPENAPI
#       Redocly's linter with redocly.yaml: exit 1 on any error.
#   tests/contract/run.sh responses OPENAPI EXCHANGES MIN
#       validate.mjs on its own crafted exchanges (self-test.ndjson against
#       self-test.yaml: answers it must accept and violations it must
#       catch), then on EXCHANGES (written by test_http --exchanges) against
#       OPENAPI, which must hold at least MIN answers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null || [ ! -d "$here/node_modules/ajv" ]; then
  echo "node or $here/node_modules is missing: run scripts/setup.sh" >&2
  exit 1
fi
case ${1:-} in
  lint)
    exec node "$here/lint.mjs" "${2:?OPENAPI}"
    ;;
  responses)
    status=0
    node "$here/validate.mjs" "$here/self-test.yaml" "$here/self-test.ndjson" --self-test || status=1
    node "$here/validate.mjs" "${2:?OPENAPI}" "${3:?EXCHANGES}" --min "${4:?MIN}" || status=1
    exit $status
    ;;
  *)
    echo "usage: $0 lint OPENAPI | responses OPENAPI EXCHANGES MIN" >&2
    exit 2
    ;;
esac
