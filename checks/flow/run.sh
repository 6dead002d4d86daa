#!/usr/bin/env bash
# The flow stage: both services started locally (./run-local.sh start, which builds them when
# their jars are missing), test.sh's flow checks against them, and both stopped again.
# See README.md in this folder.
#   checks/flow/run.sh
# Needs a JDK 21+, curl and jq, and ports 8081 and 8082 free (INVOICE_PORT / PAYMENT_PORT move them).
# Prints test.sh's PASS:/FAIL: lines and ends with `flow: N passed, N failed` (test.sh's checks,
# plus a failure when the services did not start or stop).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
# shellcheck source=checks/java-home.sh
source "$ROOT/checks/java-home.sh"

main() {
  local status=0 output summary passed=0 failed=0
  select_java
  output=$(mktemp)
  if "$ROOT/run-local.sh" start; then
    INVOICE_URL="http://127.0.0.1:${INVOICE_PORT:-8081}" "$ROOT/test.sh" --flow-only | tee "$output" || status=$?
    summary=$(grep -E '^test\.sh: [0-9]+ passed, [0-9]+ failed' "$output" | tail -n 1 || true)
    if [[ -n "$summary" ]]; then
      passed=$(awk '{print $2}' <<<"$summary")
      failed=$(awk '{print $4}' <<<"$summary")
    else
      echo "FAIL: test.sh --flow-only printed no summary"
      failed=$((failed + 1))
      status=1
    fi
  else
    echo "FAIL: run-local.sh start (its output is above)"
    failed=$((failed + 1))
    status=1
  fi
  rm -f "$output"
  if ! "$ROOT/run-local.sh" stop; then
    echo "FAIL: run-local.sh stop"
    failed=$((failed + 1))
    status=1
  fi
  echo "flow: $passed passed, $failed failed"
  return "$status"
}

main "$@"
