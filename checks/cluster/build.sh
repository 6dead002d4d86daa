#!/usr/bin/env bash
# Builds the control plane that checks/cluster/run.sh starts, from the Go module proxy, into
# .tools/cluster/bin/ (gitignored): kube-apiserver, kube-controller-manager, kube-scheduler and
# kubectl from k8s.io/kubernetes, and etcd from our own small main (etcd/main.go) over etcd's
# embed package. Every version comes from go.mod/go.sum in this folder; the build is skipped when
# the binaries were built from exactly these files already (a stamp in .tools/stamps/).
# Needs Go 1.26 or newer; the local toolchain is used, never a downloaded one.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
readonly HERE ROOT
readonly BIN="$ROOT/.tools/cluster/bin"
readonly STAMP="$ROOT/.tools/stamps/cluster"
readonly COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

log() { printf '[cluster-build] %s\n' "$*"; }

module_version() {
  (cd "$HERE" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go list -m -f '{{.Version}}' "$1")
}

# Without these the binaries call themselves v0.0.0-master, and kubectl warns about version skew.
version_ldflags() {
  local version=$1 major minor
  major=${version#v}; major=${major%%.*}
  minor=${version#v*.}; minor=${minor%%.*}
  printf -- '-s -w -X k8s.io/component-base/version.gitVersion=%s' "$version"
  printf -- ' -X k8s.io/component-base/version.gitMajor=%s -X k8s.io/component-base/version.gitMinor=%s' "$major" "$minor"
  printf -- ' -X k8s.io/component-base/version.gitTreeState=clean'
}

all_built() {
  local command
  for command in "${COMMANDS[@]}" etcd; do
    [[ -x "$BIN/$command" ]] || return 1
  done
}

main() {
  command -v go >/dev/null 2>&1 || { echo "cluster-build: go is missing: install Go 1.26+" >&2; exit 1; }
  local digest kubernetes etcd packages=() command started=$SECONDS
  digest=$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/etcd/main.go" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
  digest="$digest $(GOTOOLCHAIN=local go env GOVERSION)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$digest" ]] && all_built; then
    log "control plane already built from these sources in ${BIN#"$ROOT"/}"
    return 0
  fi
  kubernetes=$(module_version k8s.io/kubernetes)
  etcd=$(module_version go.etcd.io/etcd/server/v3)
  for command in "${COMMANDS[@]}"; do packages+=("k8s.io/kubernetes/cmd/$command"); done
  log "go build: Kubernetes $kubernetes (${COMMANDS[*]}), etcd $etcd"
  rm -f "$STAMP"
  mkdir -p "$BIN" "$(dirname "$STAMP")"
  # One go build for all five: the packages they share compile once, on every core.
  (cd "$HERE" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
    -ldflags "$(version_ldflags "$kubernetes")" -o "$BIN/" "${packages[@]}" ./etcd)
  printf '%s' "$digest" >"$STAMP"
  log "built in $((SECONDS - started)) s into ${BIN#"$ROOT"/}"
}

main "$@"
