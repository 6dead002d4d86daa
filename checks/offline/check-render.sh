#!/usr/bin/env bash
# The offline checks of one rendered set: what a cluster with Istio would refuse or flag.
#   checks/offline/check-render.sh DIR
#   checks/offline/check-render.sh --derive-only DIR   only the derived files: the generated install,
#                                                      the injector's config, the injected pods
# DIR holds manifests.yaml (kustomize build manifests/), mesh.yaml (kustomize build mesh/) and
# istio-install.yaml (the IstioOperator). Derived files go to DIR/derived/. Prints one line
# `PASS: TOOL: what` or `FAIL: TOOL: what` per check (details above it), exits 1 if any failed.
# A step of checks/offline/run.sh, not an entry point: run.sh runs it on the real render,
# mutations.py on deliberately broken copies.
# Needs the tools of checks/offline/install-tools.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
readonly HERE ROOT
readonly BIN="$ROOT/.tools/bin"
readonly PYTHON="$ROOT/.tools/venv/bin/python"
readonly K8S_SCHEMAS="$ROOT/.tools/schemas/kubernetes/v1.36.0-standalone-strict"
readonly ISTIO_SCHEMAS="$ROOT/.tools/schemas/istio"
# The release deploy.sh installs: the images and tags `istioctl manifest generate` writes into
# the install, which an istioctl built with `go install` does not know by itself.
readonly ISTIO_HUB=docker.io/istio
readonly ISTIO_TAG=1.31.4

failures=0

result() {
  local name=$1 status=$2
  if [[ "$status" -eq 0 ]]; then
    echo "PASS: $name"
  else
    echo "FAIL: $name"
    failures=$((failures + 1))
  fi
}

# Runs a check, indenting its output above its PASS/FAIL line. A check function runs with errexit
# off (it is called in a `||` list), so each one stops itself with `|| return` after every step.
check() {
  local name=$1 status=0
  shift
  "$@" 2>&1 | sed 's/^/    /' || status=$?
  result "$name" "$status"
}

kubeconform_strict() {
  "$BIN/kubeconform" -strict -summary -n 2 \
    -schema-location "$K8S_SCHEMAS/{{.ResourceKind}}{{.KindSuffix}}.json" \
    -schema-location "$ISTIO_SCHEMAS/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json" "$@"
}

# The suppressions file as istioctl --suppress arguments (the part of each line before ' | ').
suppress_args() {
  local line
  while IFS= read -r line; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    line=${line%%|*}
    line=${line%"${line##*[![:space:]]}"}
    printf -- '--suppress\n%s\n' "$line"
  done <"$HERE/analyze-suppressions.txt"
}

# The IstioOperator as istioctl install reads it: istioctl refuses unknown fields and values.
generate_install() {
  "$BIN/istioctl" manifest generate -f "$DIR/istio-install.yaml" \
    --set "hub=$ISTIO_HUB" --set "tag=$ISTIO_TAG" >"$DERIVED/istio-install.gen.yaml" || return
  kubeconform_strict "$DERIVED/istio-install.gen.yaml"
}

# Sidecar injection as istiod's webhook would do it, then the pods the controllers would create.
inject_and_make_pods() {
  "$PYTHON" "$HERE/cluster_view.py" injector-config "$DERIVED/istio-install.gen.yaml" "$DERIVED/injector" || return
  local f
  for f in "$DIR/manifests.yaml" "$DERIVED/istio-install.gen.yaml"; do
    "$BIN/istioctl" kube-inject --revision default \
      --injectConfigFile "$DERIVED/injector/config" --valuesFile "$DERIVED/injector/values.json" \
      --meshConfigFile "$DERIVED/injector/mesh.yaml" -f "$f" >"$DERIVED/$(basename "$f" .yaml).injected.yaml" || return
  done
  "$PYTHON" "$HERE/cluster_view.py" pods "$DERIVED/manifests.injected.yaml" \
    "$DERIVED/istio-install.gen.injected.yaml" >"$DERIVED/pods.yaml" || return
  echo "$(grep -c '^kind: Pod' "$DERIVED/pods.yaml") pods derived"
}

istioctl_analyze() {
  local suppressions=()
  mapfile -t suppressions < <(suppress_args) || return
  "$BIN/istioctl" analyze --use-kube=false --all-namespaces --failure-threshold Warning \
    --meshConfigFile "$DERIVED/injector/mesh.yaml" "${suppressions[@]}" \
    "$DIR/manifests.yaml" "$DIR/mesh.yaml" "$DERIVED/istio-install.gen.yaml"
}

cluster_analyze() {
  local suppressions=()
  mapfile -t suppressions < <(suppress_args | sed 's/^--suppress$/-suppress/') || return
  "$BIN/cluster-analyze" -mesh "$DERIVED/injector/mesh.yaml" "${suppressions[@]}" \
    "$DIR/manifests.yaml" "$DIR/mesh.yaml" "$DERIVED/istio-install.gen.yaml" "$DERIVED/pods.yaml"
}

checkov_kubernetes() {
  "$PYTHON" "$HERE/checkov_gate.py" kubernetes "$DIR/manifests.yaml" "$DIR/mesh.yaml"
}

invariants() {
  "$PYTHON" -m pytest -q -p no:cacheprovider --rendered "$DIR" \
    --junitxml "$DERIVED/invariants.xml" "$HERE/test_invariants.py"
}

main() {
  local derive_only=false
  if [[ "${1:-}" == --derive-only ]]; then
    derive_only=true
    shift
  fi
  [[ $# -eq 1 && -d "$1" ]] || { echo "usage: $0 [--derive-only] RENDERED_DIR" >&2; exit 2; }
  DIR="$(cd "$1" && pwd)"
  DERIVED="$DIR/derived"
  readonly DIR DERIVED
  rm -rf "$DERIVED"
  mkdir -p "$DERIVED"
  if [[ "$derive_only" == true ]]; then
    generate_install && inject_and_make_pods
    return
  fi
  check "kubeconform: strict schemas of Kubernetes 1.36 and Istio 1.31.4's CRDs" \
    kubeconform_strict "$DIR/manifests.yaml" "$DIR/mesh.yaml"
  check "istioctl-install: manifest generate of the IstioOperator, output valid for Kubernetes 1.36" \
    generate_install
  check "kube-inject: sidecar injection of every workload, pods derived" inject_and_make_pods
  check "istioctl-analyze: all namespaces, files only, no warning" istioctl_analyze
  check "cluster-analyze: Istio's analyzers with the pods, services, namespaces a cluster holds" cluster_analyze
  check "checkov: kubernetes framework over the rendered set" checkov_kubernetes
  check "pytest: security model and pod invariants" invariants
  [[ "$failures" -eq 0 ]]
}

main "$@"
