#!/usr/bin/env bash
# The one test command: every test this project has that runs without a Kubernetes cluster.
#   ./verify.sh            all stages: java, scripts, flow, offline, pods, cluster
#   ./verify.sh java pods  only the named stages
# Each stage installs what it needs at pinned versions; the last line sums every check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT
readonly ALL_STAGES=(java scripts flow offline pods cluster)
# Debian 12 ships this shellcheck; another version may judge the scripts differently.
readonly SHELLCHECK_VERSION=0.9.0
readonly MINIMUM_JAVA=21

passed=0
failed=0
failed_stages=()

log() { printf '\n==> %s\n' "$*"; }

# The services need Java 21+, while the machine default may be older: take JAVA_HOME if it is new
# enough, otherwise the newest JDK 21+ installed beside the default one.
select_java() {
  local candidate version installed=()
  mapfile -t installed < <(printf '%s\n' /usr/lib/jvm/*/ | sort -Vr)
  for candidate in "${JAVA_HOME:-}" "${installed[@]}"; do
    [[ -n "$candidate" && -x "$candidate/bin/javac" ]] || continue
    version=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 \
      | awk -F'= ' '/java.specification.version/ {print $2}')
    if [[ "${version%%.*}" -ge "$MINIMUM_JAVA" ]]; then
      export JAVA_HOME="${candidate%/}"
      export PATH="$JAVA_HOME/bin:$PATH"
      echo "Using Java $version from $JAVA_HOME"
      return 0
    fi
  done
  echo "No JDK $MINIMUM_JAVA+ found: install one (e.g. Temurin 25) and set JAVA_HOME." >&2
  return 1
}

# Reads "N passed, N failed" from the last such line a stage printed.
count_from_output() {
  local output_file=$1 line
  line=$(grep -E '^([A-Za-z.-]+: )?[0-9]+ passed, [0-9]+ failed' "$output_file" | tail -n 1 || true)
  if [[ -z "$line" ]]; then
    return 1
  fi
  line=${line#*: }
  passed=$((passed + $(awk '{print $1}' <<<"$line")))
  failed=$((failed + $(awk '{print $3}' <<<"$line" | tr -d ',')))
}

# Surefire writes one XML report per test class; sum them so the Java tests count in the total.
count_surefire_reports() {
  local tests=0 failures=0 errors=0 skipped=0 report t f e s
  while IFS= read -r report; do
    t=$(surefire_attribute tests "$report"); f=$(surefire_attribute failures "$report")
    e=$(surefire_attribute errors "$report"); s=$(surefire_attribute skipped "$report")
    tests=$((tests + t)); failures=$((failures + f)); errors=$((errors + e)); skipped=$((skipped + s))
  done < <(find "$ROOT" -path '*/target/surefire-reports/TEST-*.xml' -not -path '*/.work/*')
  if [[ "$tests" -eq 0 ]]; then
    echo "FAIL: the Java build ran no test" >&2
    failed=$((failed + 1))
    return 1
  fi
  echo "Java: $tests tests, $failures failures, $errors errors, $skipped skipped"
  if [[ "$skipped" -gt 0 ]]; then
    echo "FAIL: $skipped Java tests were skipped; every test must run" >&2
  fi
  passed=$((passed + tests - failures - errors - skipped))
  failed=$((failed + failures + errors + skipped))
  [[ $((failures + errors + skipped)) -eq 0 ]]
}

# Reads one numeric attribute of a Surefire report's <testsuite> element.
surefire_attribute() {
  local name=$1 report=$2 value
  value=$(grep -m 1 -o "<testsuite [^>]*" "$report" | grep -o " $name=\"[0-9]*\"" | grep -o '[0-9]\+' || true)
  echo "${value:-0}"
}

stage_java() {
  log "java: build and every Java test (unit, HTTP, PostgreSQL, both services together)"
  find "$ROOT" -path '*/target/surefire-reports' -type d -prune -exec rm -rf {} +
  local status=0
  "$ROOT/mvnw" -B -ntp verify || status=$?
  count_surefire_reports || status=1
  return "$status"
}

run_counted_stage() {
  local name=$1 output status=0
  shift
  output=$(mktemp)
  "$@" 2>&1 | tee "$output" || status=$?
  if ! count_from_output "$output"; then
    echo "FAIL: $name printed no 'N passed, N failed' summary" >&2
    failed=$((failed + 1))
    status=1
  fi
  rm -f "$output"
  return "$status"
}

stage_scripts() {
  log "scripts: bash -n and shellcheck over every shell script"
  install_shellcheck || return 1
  local script scripts=()
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
  [[ ${#scripts[@]} -gt 0 ]]
}

install_shellcheck() {
  if ! shellcheck --version 2>/dev/null | grep -q "version: $SHELLCHECK_VERSION"; then
    echo "installing shellcheck $SHELLCHECK_VERSION (Debian package)"
    apt-get update -qq && apt-get install -y -qq "shellcheck=${SHELLCHECK_VERSION}*" >/dev/null
  fi
  shellcheck --version | grep -q "version: $SHELLCHECK_VERSION" \
    || { echo "FAIL: shellcheck $SHELLCHECK_VERSION could not be installed"; failed=$((failed + 1)); return 1; }
}

# test.sh's flow part against both services started from the jars the java stage built.
stage_flow() {
  log "flow: ./test.sh --flow-only against both services started locally"
  local status=0
  "$ROOT/run-local.sh" start || status=$?
  if [[ "$status" -eq 0 ]]; then
    run_counted_stage flow env INVOICE_URL="http://127.0.0.1:${INVOICE_PORT:-8081}" "$ROOT/test.sh" --flow-only || status=$?
  else
    failed=$((failed + 1))
  fi
  "$ROOT/run-local.sh" stop || status=$?
  return "$status"
}

# manifests/, mesh/ and the Dockerfiles checked offline with the field's own tools: schemas,
# istioctl, checkov, the security invariants, and mutations each must catch (checks/offline/README.md).
stage_offline() {
  log "offline: rendered manifests and mesh through kubeconform, istioctl, checkov and the invariant tests"
  run_counted_stage offline "$ROOT/checks/offline.sh"
}

# The real Dockerfiles built and the rendered workloads run under a container runtime
# (checks/pods/README.md). Skips only where no runtime can be had, and never in CI.
stage_pods() {
  log "pods: the real images, and the rendered workloads under Docker with their security context"
  run_counted_stage pods "$ROOT/checks/pods/run.sh" --skip-without-runtime
}

# A Kubernetes 1.36 control plane built from the Go module proxy, given what deploy.sh applies:
# admission, Pod Security, team RBAC and the controllers, for real (checks/cluster/README.md).
stage_cluster() {
  log "cluster: kube-apiserver, controller-manager, scheduler and etcd on 127.0.0.1 with what deploy.sh applies"
  run_counted_stage cluster "$ROOT/checks/cluster/run.sh"
}

main() {
  cd "$ROOT"
  local stages=("$@") stage
  [[ ${#stages[@]} -gt 0 ]] || stages=("${ALL_STAGES[@]}")
  for stage in "${stages[@]}"; do
    if ! declare -F "stage_$stage" >/dev/null; then
      echo "Unknown stage '$stage'; stages are: ${ALL_STAGES[*]}" >&2
      exit 2
    fi
  done
  select_java
  for stage in "${stages[@]}"; do
    if ! "stage_$stage"; then
      failed_stages+=("$stage")
    fi
  done
  echo
  if [[ ${#failed_stages[@]} -gt 0 ]]; then
    echo "Stages that failed: ${failed_stages[*]}"
  fi
  echo "verify: $passed passed, $failed failed"
  [[ ${#failed_stages[@]} -eq 0 && "$failed" -eq 0 ]]
}

main "$@"
