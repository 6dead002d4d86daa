# shellcheck shell=bash
# Sourced, not run: the PASS:/FAIL: bookkeeping of a check stage. `record STATUS NAME` prints one
# line for a check; `counted COMMAND...` runs a command that prints such lines itself and adds them
# up. The stage ends with `echo "STAGE: $passed passed, $failed failed"`.

passed=0
failed=0

record() {
  local status=$1 name=$2
  if [[ "$status" -eq 0 ]]; then
    echo "PASS: $name"
    passed=$((passed + 1))
  else
    echo "FAIL: $name"
    failed=$((failed + 1))
  fi
}

# A command that stops without a FAIL line of its own counts as one failure.
counted() {
  local output status=0 p f
  output=$(mktemp)
  "$@" 2>&1 | tee "$output" || status=$?
  p=$(grep -c '^PASS: ' "$output" || true)
  f=$(grep -c '^FAIL: ' "$output" || true)
  rm -f "$output"
  passed=$((passed + p))
  failed=$((failed + f))
  if [[ "$status" -ne 0 && "$f" -eq 0 ]]; then
    echo "FAIL: $* stopped (exit $status) before reporting"
    failed=$((failed + 1))
  fi
}
