#!/usr/bin/env bash
# The one test command: every test this project has that runs without a Kubernetes cluster.
#   ./verify.sh            all stages: java, scripts, flow, offline, pods, cluster, mesh
#   ./verify.sh java pods  only the named stages
# Each stage is checks/<stage>/run.sh (README.md beside it), installs what it needs at pinned
# versions and ends with "N passed, N failed". The line before the last says what each stage
# counted; the last line, `verify: N passed, N failed`, sums them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT
readonly ALL_STAGES=(java scripts flow offline pods cluster mesh)
# shellcheck source=checks/java-home.sh
source "$ROOT/checks/java-home.sh"

passed=0
failed=0
failed_stages=()
# One "stage passed/failed (what it counted)" entry per stage run, for the breakdown line.
breakdown=()
# Set by run_counted_stage: how many of the stage's PASS/FAIL lines were mutations.
mutation_lines=0

log() { printf '\n==> %s\n' "$*"; }

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
  mutation_lines=$(grep -c -E '^(PASS|FAIL): mutation ' "$output" || true)
  rm -f "$output"
  return "$status"
}

# ./mvnw verify: unit, HTTP, PostgreSQL and system tests, Surefire's reports summed
# (checks/java/README.md).
stage_java() {
  log "java: build and every Java test (unit, HTTP, PostgreSQL, both services together)"
  run_counted_stage java "$ROOT/checks/java/run.sh"
}

# bash -n and shellcheck over every tracked script (checks/scripts/README.md).
stage_scripts() {
  log "scripts: bash -n and shellcheck over every shell script"
  run_counted_stage scripts "$ROOT/checks/scripts/run.sh"
}

# test.sh's flow part against both services started locally (checks/flow/README.md).
stage_flow() {
  log "flow: ./test.sh --flow-only against both services started locally"
  run_counted_stage flow "$ROOT/checks/flow/run.sh"
}

# manifests/, mesh/ and the Dockerfile checked offline with the field's own tools: schemas,
# istioctl, checkov, the security invariants, and mutations each must catch (checks/offline/README.md).
stage_offline() {
  log "offline: rendered manifests and mesh through kubeconform, istioctl, checkov and the invariant tests"
  run_counted_stage offline "$ROOT/checks/offline/run.sh"
}

# The real Dockerfile built for both services and the rendered workloads run under a container
# runtime (checks/pods/README.md). Skips only where no runtime can be had, and never in CI.
stage_pods() {
  log "pods: the real images, and the rendered workloads under Docker with their security context"
  run_counted_stage pods "$ROOT/checks/pods/run.sh" --skip-without-runtime
}

# A Kubernetes 1.36 cluster built from the Go module proxy, given what deploy.sh applies:
# admission, Pod Security, team RBAC and the controllers, then a node that runs the workloads,
# tried by traffic (checks/cluster/README.md). Root.
stage_cluster() {
  log "cluster: a control plane with what deploy.sh applies, then a node running the workloads"
  run_counted_stage cluster "$ROOT/checks/cluster/run.sh"
}

# Istio's own configuration of the deployed system on real Envoy sidecars, every wall tried by
# traffic (checks/mesh/README.md). Needs root; skips only where it is not root, never in CI.
stage_mesh() {
  log "mesh: Istio's generated configuration on real Envoy sidecars, every wall tried by traffic"
  run_counted_stage mesh "$ROOT/checks/mesh/run.sh" --skip-without-root
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
  local passed_before failed_before counted
  for stage in "${stages[@]}"; do
    passed_before=$passed
    failed_before=$failed
    mutation_lines=0
    if ! "stage_$stage"; then
      failed_stages+=("$stage")
    fi
    case "$stage" in
      java) counted="Java tests" ;;
      scripts) counted="shellcheck per script, bash 3.2 guard self-tests, scripts under the guard, deploy.sh settings refused" ;;
      flow) counted="test.sh checks" ;;
      *)
        counted="checks"
        if [[ "$mutation_lines" -gt 0 ]]; then counted="checks, $mutation_lines of them mutations"; fi
        ;;
    esac
    breakdown+=("$stage $((passed - passed_before))/$((failed - failed_before)) ($counted)")
  done
  echo
  if [[ ${#failed_stages[@]} -gt 0 ]]; then
    echo "Stages that failed: ${failed_stages[*]}"
  fi
  printf 'Per stage, passed/failed: %s\n' "$(printf '%s; ' "${breakdown[@]}" | sed 's/; $//')"
  echo "verify: $passed passed, $failed failed"
  [[ ${#failed_stages[@]} -eq 0 && "$failed" -eq 0 ]]
}

main "$@"
