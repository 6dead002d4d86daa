#!/usr/bin/env bash
# Everything about the deployment that can be checked without a cluster, with the field's tools:
#   checks/offline/run.sh
#   1. installs the pinned tools (checks/offline/install-tools.sh; cached in .tools/)
#   2. renders manifests/ and mesh/ with kustomize
#   3. runs checks/offline/check-render.sh on the render: strict Kubernetes 1.36 and Istio 1.31.4
#      schemas, istioctl manifest generate / kube-inject / analyze, Istio's analyzers with the
#      cluster's pods, checkov, the security invariants (pytest)
#   4. checks/cluster/istio/check-install.sh: the local cluster's Istio install against the product's
#   5. checkov and hadolint over the Dockerfile
#   6. mutations: deliberately broken copies of the render must each be caught by some tool
# Prints one PASS/FAIL line per check and ends with `offline: N passed, N failed`.
# See README.md in this folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly WORK="$ROOT/.work/offline"
readonly RENDERED="$WORK/rendered"
readonly PYTHON="$ROOT/.tools/venv/bin/python"

# shellcheck source=checks/counting.sh
source "$ROOT/checks/counting.sh"

render() {
  local source=$1 status=0
  "$ROOT/.tools/bin/kustomize" build "$ROOT/$source" >"$RENDERED/$source.yaml" || status=$?
  if [[ "$status" -eq 0 && ! -s "$RENDERED/$source.yaml" ]]; then
    echo "kustomize rendered nothing from $source/"
    status=1
  fi
  record "$status" "render: kustomize build $source/ ($(grep -c '^kind: ' "$RENDERED/$source.yaml" || true) objects)"
  return "$status"
}

# deploy.sh applies with `kubectl apply -k`, i.e. with the kustomize built into the machine's
# kubectl, which may be older than the pinned one: both must render the same objects. kubectl is
# not one of the pinned tools, so a machine without it skips this comparison (and says so).
same_render_with_kubectl() {
  local source status=0
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "kubectl is not installed: rendering checked with the pinned kustomize only"
    return 0
  fi
  for source in manifests mesh; do
    kubectl kustomize "$ROOT/$source" >"$RENDERED/$source.kubectl.yaml" || { status=1; continue; }
    "$PYTHON" "$ROOT/checks/offline/same_objects.py" "$RENDERED/$source.yaml" "$RENDERED/$source.kubectl.yaml" || status=1
  done
  record "$status" "render: kubectl kustomize ($(kubectl version --client 2>/dev/null | awk '/Kustomize/ {print "kustomize " $3}')) renders the same objects"
}

# One line per invariant test of the real render, from the run's JUnit report.
invariant_lines() {
  "$PYTHON" - "$RENDERED/derived/invariants.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    bad = case.find("failure") is not None or case.find("error") is not None or case.find("skipped") is not None
    print(f"{'FAIL' if bad else 'PASS'}: invariant {case.get('name')}")
EOF
}

main() {
  local started=$SECONDS status rendered_ok
  cd "$ROOT"
  status=0
  "$ROOT/checks/offline/install-tools.sh" || status=$?
  record "$status" "tools: pinned kustomize, kubeconform, istioctl, cluster-analyze, checkov, hadolint, pytest, schemas"
  if [[ "$status" -ne 0 ]]; then
    echo "offline: $passed passed, $failed failed"
    return 1
  fi

  rm -rf "$RENDERED"
  mkdir -p "$RENDERED"
  rendered_ok=0
  render manifests || rendered_ok=1
  render mesh || rendered_ok=1
  cp "$ROOT/mesh/istio-install.yaml" "$RENDERED/istio-install.yaml" || rendered_ok=1
  if [[ "$rendered_ok" -eq 0 ]]; then
    same_render_with_kubectl
    counted "$ROOT/checks/offline/check-render.sh" "$RENDERED"
    if [[ -f "$RENDERED/derived/invariants.xml" ]]; then
      counted invariant_lines
    fi
  fi
  # The Istio install of the project's own cluster against the product's (checks/cluster/README.md).
  counted "$ROOT/checks/cluster/istio/check-install.sh"

  status=0
  "$PYTHON" "$ROOT/checks/offline/checkov_gate.py" dockerfile Dockerfile || status=$?
  record "$status" "checkov: dockerfile framework over Dockerfile (both services' image)"
  status=0
  "$ROOT/.tools/venv/bin/hadolint" --config "$ROOT/checks/offline/hadolint.yaml" \
    Dockerfile || status=$?
  record "$status" "hadolint: Dockerfile (both services' image)"

  if [[ "$rendered_ok" -eq 0 ]]; then
    counted "$PYTHON" "$ROOT/checks/offline/mutations.py" "$RENDERED" "$WORK/mutations"
  fi

  echo "offline stage took $((SECONDS - started)) s"
  echo "offline: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
}

main "$@"
