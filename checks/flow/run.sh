#!/usr/bin/env bash
# The flow stage: both services started locally (./run-local.sh start, which builds them when
# their jars are missing), test.sh's flow checks against them, and both stopped again.
# See README.md in this folder.
#   checks/flow/run.sh
# Needs a JDK 21+, curl and jq, and ports 8081 and 8082 free (INVOICE_PORT / PAYMENT_PORT move them).
# Ends with test.sh's `test.sh: N passed, N failed`, or `flow: 0 passed, 1 failed` when the
# services did not start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
# shellcheck source=checks/java-home.sh
source "$ROOT/checks/java-home.sh"

main() {
  local status=0
  select_java
  if "$ROOT/run-local.sh" start; then
    INVOICE_URL="http://127.0.0.1:${INVOICE_PORT:-8081}" "$ROOT/test.sh" --flow-only || status=$?
  else
    status=1
    echo "FAIL: run-local.sh start"
    echo "flow: 0 passed, 1 failed"
  fi
  if ! "$ROOT/run-local.sh" stop; then
    echo "FAIL: run-local.sh stop"
    status=1
  fi
  return "$status"
}

main "$@"
