#!/usr/bin/env bash
# The scripts stage: `bash -n` and shellcheck over every tracked shell script, then the scripts a
# user runs against the constructs macOS's bash 3.2 lacks (bash32_guard.py), after the guard has
# shown on samples that each of its rules fires, then deploy.sh's refusal of bad settings
# (deploy_settings.sh). See README.md here.
#   checks/scripts/run.sh
# Installs Debian's shellcheck 0.9.0 with apt when another version (or none) is on the PATH.
# Prints PASS:/FAIL: per script and ends with `scripts: N passed, N failed`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
# Debian 12 ships this shellcheck; another version may judge the scripts differently.
readonly SHELLCHECK_VERSION=0.9.0
# The scripts a user runs on their own machine, which may be a Mac with /bin/bash 3.2.
readonly USER_SCRIPTS=(deploy.sh test.sh run-local.sh)

install_shellcheck() {
  if ! shellcheck --version 2>/dev/null | grep -q "version: $SHELLCHECK_VERSION"; then
    echo "installing shellcheck $SHELLCHECK_VERSION (Debian package)"
    apt-get update -qq && apt-get install -y -qq "shellcheck=${SHELLCHECK_VERSION}*" >/dev/null
  fi
  shellcheck --version | grep -q "version: $SHELLCHECK_VERSION"
}

main() {
  local script scripts=() passed=0 failed=0
  cd "$ROOT"
  if ! install_shellcheck; then
    echo "FAIL: shellcheck $SHELLCHECK_VERSION could not be installed"
    echo "scripts: 0 passed, 1 failed"
    return 1
  fi
  mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
  for script in "${scripts[@]}"; do
    if bash -n "$script" && shellcheck -x "$script"; then
      echo "PASS: $script"
      passed=$((passed + 1))
    else
      echo "FAIL: $script"
      failed=$((failed + 1))
    fi
  done
  if [[ ${#scripts[@]} -eq 0 ]]; then
    echo "FAIL: git lists no shell script"
    failed=$((failed + 1))
  fi
  local output p f
  output=$(python3 "$ROOT/checks/scripts/bash32_guard.py" --self-test 2>&1; \
    python3 "$ROOT/checks/scripts/bash32_guard.py" "${USER_SCRIPTS[@]}" 2>&1; \
    "$ROOT/checks/scripts/deploy_settings.sh" 2>&1) || true
  printf '%s\n' "$output"
  p=$(grep -c '^PASS: ' <<<"$output" || true)
  f=$(grep -c '^FAIL: ' <<<"$output" || true)
  passed=$((passed + p))
  failed=$((failed + f))
  if [[ "$p" -eq 0 ]]; then
    echo "FAIL: the bash 3.2 guard reported nothing"
    failed=$((failed + 1))
  fi
  if ! grep -q '^deploy settings: [0-9]* passed' <<<"$output"; then
    echo "FAIL: checks/scripts/deploy_settings.sh ended without its summary"
    failed=$((failed + 1))
  fi
  echo "scripts: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
}

main "$@"
