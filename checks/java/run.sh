#!/usr/bin/env bash
# The java stage: `./mvnw verify` (every module's unit, HTTP and PostgreSQL tests, and
# system-tests), then the Surefire reports summed. See README.md in this folder.
#   checks/java/run.sh
# Needs a JDK 21+ (JAVA_HOME, or the newest under /usr/lib/jvm); Maven comes with the wrapper.
# Ends with `java: N passed, N failed`; a skipped test counts as failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
# shellcheck source=checks/java-home.sh
source "$ROOT/checks/java-home.sh"

# Reads one numeric attribute of a Surefire report's <testsuite> element.
surefire_attribute() {
  local name=$1 report=$2 value
  value=$(grep -m 1 -o "<testsuite [^>]*" "$report" | grep -o " $name=\"[0-9]*\"" | grep -o '[0-9]\+' || true)
  echo "${value:-0}"
}

# Surefire writes one XML report per test class; sum them so the Java tests count in the total.
count_surefire_reports() {
  local tests=0 failures=0 errors=0 skipped=0 report t f e s
  while IFS= read -r report; do
    t=$(surefire_attribute tests "$report"); f=$(surefire_attribute failures "$report")
    e=$(surefire_attribute errors "$report"); s=$(surefire_attribute skipped "$report")
    tests=$((tests + t)); failures=$((failures + f)); errors=$((errors + e)); skipped=$((skipped + s))
  done < <(find "$ROOT" -path '*/target/surefire-reports/TEST-*.xml' -not -path '*/.work/*')
  echo "Java: $tests tests, $failures failures, $errors errors, $skipped skipped"
  if [[ "$tests" -eq 0 ]]; then
    echo "FAIL: the Java build ran no test" >&2
    echo "java: 0 passed, 1 failed"
    return 1
  fi
  if [[ "$skipped" -gt 0 ]]; then
    echo "FAIL: $skipped Java tests were skipped; every test must run" >&2
  fi
  echo "java: $((tests - failures - errors - skipped)) passed, $((failures + errors + skipped)) failed"
  [[ $((failures + errors + skipped)) -eq 0 ]]
}

main() {
  local status=0
  select_java
  find "$ROOT" -path '*/target/surefire-reports' -type d -prune -exec rm -rf {} +
  "$ROOT/mvnw" -f "$ROOT/pom.xml" -B -ntp verify || status=$?
  count_surefire_reports || status=1
  return "$status"
}

main "$@"
