#!/usr/bin/env bash
# Installs every tool the offline checks use, each at a pinned version, into .tools/ (gitignored);
# checks/offline/run.sh runs it first, and it can be run alone:  checks/offline/install-tools.sh
#   .tools/bin/            kustomize, kubeconform, istioctl (go install of pinned module versions),
#                          cluster-analyze (checks/offline/cluster-analyze, Istio's analyzers, go.sum-pinned)
#   .tools/venv/           pytest, PyYAML, kubernetes-validate, hadolint (checks/offline/requirements-tests.txt)
#   .tools/venv-checkov/   checkov (checks/offline/requirements-checkov.txt)
#   .tools/schemas/        strict JSON schemas: Kubernetes 1.36 and Istio's CRDs
# A tool already installed at its pinned version is kept, so a second run takes seconds.
# Needs: go (1.26 or newer), python3 with venv, and the Go module proxy and PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly TOOLS="$ROOT/.tools"
readonly STAMPS="$TOOLS/stamps"

# Pinned versions, all in this one place.
readonly KUSTOMIZE_MODULE=sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
readonly KUBECONFORM_MODULE=github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
# istio.io/istio has no Go-module tags (its releases are tagged 1.31.0, not v1.31.0), so the Go
# proxy serves it only at commits, as pseudo-versions. This one is commit eed52ebb66ad of
# 2026-08-27 12:45:20 UTC on the release-1.31 line (its VERSION file says 1.31; its go.mod requires
# istio.io/api at b943409680a7, the commit tagged v1.31.0 there), after 1.31.0-rc.0: the only 1.31
# commit the proxy serves. Whether it is exactly the commit tagged 1.31.0 could not be checked.
readonly ISTIOCTL_MODULE=istio.io/istio/istioctl/cmd/istioctl@v0.0.0-20260827124520-eed52ebb66ad
# Istio's API module of the deployed release: its CRDs are what the cluster validates against.
readonly ISTIO_API_MODULE=istio.io/api@v1.31.4
readonly KUBERNETES_VERSION=1.36.0

log() { printf '[install-tools] %s\n' "$*"; }

require() {
  command -v "$1" >/dev/null 2>&1 || { echo "install-tools: '$1' is missing: $2" >&2; exit 1; }
}

# stamp_matches NAME VALUE: true when NAME was installed from exactly VALUE.
stamp_matches() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
write_stamp() { mkdir -p "$STAMPS"; printf '%s' "$2" >"$STAMPS/$1"; }

go_tool() {
  local name=$1 module=$2
  if [[ -x "$TOOLS/bin/$name" ]] && stamp_matches "$name" "$module"; then
    return 0
  fi
  log "go install $module"
  GOBIN="$TOOLS/bin" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go install "$module"
  write_stamp "$name" "$module"
}

# Our own Go command, built against the istioctl commit above (checks/offline/cluster-analyze/go.mod).
local_go_tool() {
  local name=$1 dir=$2 digest
  grep -q "istio.io/istio ${ISTIOCTL_MODULE##*@}" "$dir/go.mod" \
    || { echo "install-tools: $dir/go.mod must require istio.io/istio ${ISTIOCTL_MODULE##*@}, the istioctl commit" >&2; exit 1; }
  digest=$(cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go | sha256sum | cut -d' ' -f1)
  if [[ -x "$TOOLS/bin/$name" ]] && stamp_matches "$name" "$digest"; then
    return 0
  fi
  log "go build ${dir#"$ROOT"/}"
  (cd "$dir" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -mod=readonly -o "$TOOLS/bin/$name" .)
  write_stamp "$name" "$digest"
}

python_venv() {
  local dir=$1 requirements=$2 digest
  digest="$(python3 --version 2>&1) $(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ -x "$dir/bin/python" ]] && stamp_matches "$(basename "$dir")" "$digest"; then
    return 0
  fi
  log "python venv $(basename "$dir") from ${requirements#"$ROOT"/}"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$requirements"
  write_stamp "$(basename "$dir")" "$digest"
}

schemas() {
  local inputs api_dir
  inputs="$KUBERNETES_VERSION $ISTIO_API_MODULE $(cat "$ROOT/checks/offline/k8s_schemas.py" \
    "$ROOT/checks/offline/istio_schemas.py" "$ROOT/checks/offline/requirements-tests.txt" | sha256sum | cut -d' ' -f1)"
  if [[ -d "$TOOLS/schemas/istio" ]] && stamp_matches schemas "$inputs"; then
    return 0
  fi
  log "strict schemas: Kubernetes $KUBERNETES_VERSION and the CRDs of $ISTIO_API_MODULE"
  rm -rf "$TOOLS/schemas"
  "$TOOLS/venv/bin/python" "$ROOT/checks/offline/k8s_schemas.py" "$KUBERNETES_VERSION" "$TOOLS/schemas/kubernetes"
  api_dir=$(cd "$TOOLS" && GOTOOLCHAIN=local go mod download -json "$ISTIO_API_MODULE" \
    | "$TOOLS/venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  "$TOOLS/venv/bin/python" "$ROOT/checks/offline/istio_schemas.py" \
    "$api_dir/kubernetes/customresourcedefinitions.gen.yaml" \
    "$TOOLS/schemas/kubernetes/v$KUBERNETES_VERSION-standalone-strict" "$TOOLS/schemas/istio"
  write_stamp schemas "$inputs"
}

main() {
  require go "install Go 1.26+ (https://go.dev/dl or the distribution's golang package)"
  require python3 "install Python 3.11+ with venv (apt-get install -y python3 python3-venv)"
  mkdir -p "$TOOLS/bin"
  # The Python venvs mostly download while the Go builds keep both cores busy: run them side by side.
  local venvs_pid
  (python_venv "$TOOLS/venv" "$ROOT/checks/offline/requirements-tests.txt" \
    && python_venv "$TOOLS/venv-checkov" "$ROOT/checks/offline/requirements-checkov.txt") &
  venvs_pid=$!
  go_tool kustomize "$KUSTOMIZE_MODULE"
  go_tool kubeconform "$KUBECONFORM_MODULE"
  go_tool istioctl "$ISTIOCTL_MODULE"
  local_go_tool cluster-analyze "$ROOT/checks/offline/cluster-analyze"
  wait "$venvs_pid" || { echo "install-tools: the Python tools could not be installed" >&2; exit 1; }
  schemas
  log "tools ready in ${TOOLS#"$ROOT"/}: kustomize ${KUSTOMIZE_MODULE##*@}, kubeconform ${KUBECONFORM_MODULE##*@}," \
    "istioctl ${ISTIOCTL_MODULE##*@}, checkov $("$TOOLS/venv-checkov/bin/checkov" --version)," \
    "pytest $("$TOOLS/venv/bin/python" -m pytest --version 2>&1 | awk '{print $2}')," \
    "hadolint $("$TOOLS/venv/bin/hadolint" --version | awk '{print $NF}'), Kubernetes schemas $KUBERNETES_VERSION," \
    "Istio schemas ${ISTIO_API_MODULE##*@}"
}

main "$@"
