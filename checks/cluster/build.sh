#!/usr/bin/env bash
# Builds the cluster that checks/cluster/run.sh starts, from the Go module proxy, into
# .tools/cluster/ (gitignored), in two parts, each skipped when a stamp in .tools/stamps/ says it
# was built from exactly the same inputs:
# - bin/: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet and kube-proxy
#   from k8s.io/kubernetes, etcd from our own small main (etcd/main.go) over etcd's embed package,
#   and the pod sandbox process (pause/main.go). Versions from go.mod/go.sum in this folder.
# - the node's add-ons, each `go install`ed at the version pinned below (its own go.sum pins its
#   dependencies): the CNI plugins into cni/, CoreDNS, the local-path provisioner and
#   kube-router (its NetworkPolicy controller) into bin/.
# Needs Go 1.26 or newer; the local toolchain is used, never a downloaded one.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
readonly HERE ROOT
readonly BIN="$ROOT/.tools/cluster/bin"
readonly CNI_BIN="$ROOT/.tools/cluster/cni"
readonly STAMP="$ROOT/.tools/stamps/cluster"
readonly ADDONS_STAMP="$ROOT/.tools/stamps/cluster-addons"
readonly COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
# The node's add-ons: module@version, then the packages of it to install.
readonly CNI_PLUGINS=github.com/containernetworking/plugins@v1.9.1
readonly CNI_PACKAGES=(plugins/main/bridge plugins/ipam/host-local plugins/main/loopback plugins/meta/portmap)
# The CoreDNS version kubeadm 1.36 deploys (CoreDNSVersion in cmd/kubeadm/app/constants).
readonly COREDNS=github.com/coredns/coredns@v1.14.2
# kind's default StorageClass `standard` is this provisioner.
readonly LOCAL_PATH_PROVISIONER=github.com/rancher/local-path-provisioner@v0.0.30
# The NetworkPolicy enforcer: kube-router's iptables and ipset controller. (kindnet's
# kube-network-policies needs the kernel's nft_queue, which this machine's kernel lacks.)
readonly KUBE_ROUTER=github.com/cloudnativelabs/kube-router/v2@v2.1.0

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
  for command in "${COMMANDS[@]}" etcd pause; do
    [[ -x "$BIN/$command" ]] || return 1
  done
}

addons_built() {
  local package command
  for package in "${CNI_PACKAGES[@]}"; do
    [[ -x "$CNI_BIN/${package##*/}" ]] || return 1
  done
  for command in coredns local-path-provisioner kube-router; do
    [[ -x "$BIN/$command" ]] || return 1
  done
}

# go_install MODULE@VERSION PACKAGE OUTPUT: one package of a module at its pinned version.
go_install() {
  local module=${1%@*} version=${1##*@} package=$2 output=$3 directory
  directory=$(mktemp -d)
  (GOBIN="$directory" CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS='' go install -trimpath -ldflags '-s -w' \
    "$module${package:+/$package}@$version") || { rm -rf "$directory"; return 1; }
  mv "$directory"/* "$output"
  rm -rf "$directory"
}

build_addons() {
  local digest package started=$SECONDS
  digest=$(printf '%s\n' "$CNI_PLUGINS" "${CNI_PACKAGES[@]}" "$COREDNS" "$LOCAL_PATH_PROVISIONER" "$KUBE_ROUTER" \
    "$(GOTOOLCHAIN=local go env GOVERSION)" | sha256sum | cut -d' ' -f1)
  if [[ -f "$ADDONS_STAMP" && "$(cat "$ADDONS_STAMP")" == "$digest" ]] && addons_built; then
    log "node add-ons already built at these versions"
    return 0
  fi
  log "go install: CNI plugins ${CNI_PLUGINS##*@}, CoreDNS ${COREDNS##*@}, local-path-provisioner ${LOCAL_PATH_PROVISIONER##*@}, kube-router ${KUBE_ROUTER##*@}"
  rm -f "$ADDONS_STAMP"
  mkdir -p "$BIN" "$CNI_BIN"
  for package in "${CNI_PACKAGES[@]}"; do
    go_install "$CNI_PLUGINS" "$package" "$CNI_BIN/${package##*/}"
  done
  go_install "$COREDNS" "" "$BIN/coredns"
  go_install "$LOCAL_PATH_PROVISIONER" "" "$BIN/local-path-provisioner"
  go_install "$KUBE_ROUTER" cmd/kube-router "$BIN/kube-router"
  printf '%s' "$digest" >"$ADDONS_STAMP"
  log "add-ons built in $((SECONDS - started)) s"
}

main() {
  command -v go >/dev/null 2>&1 || { echo "cluster-build: go is missing: install Go 1.26+" >&2; exit 1; }
  local digest kubernetes etcd packages=() command started=$SECONDS
  digest=$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/etcd/main.go" "$HERE/pause/main.go" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
  digest="$digest $(GOTOOLCHAIN=local go env GOVERSION)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$digest" ]] && all_built; then
    log "Kubernetes and etcd already built from these sources in ${BIN#"$ROOT"/}"
    build_addons
    return
  fi
  kubernetes=$(module_version k8s.io/kubernetes)
  etcd=$(module_version go.etcd.io/etcd/server/v3)
  for command in "${COMMANDS[@]}"; do packages+=("k8s.io/kubernetes/cmd/$command"); done
  log "go build: Kubernetes $kubernetes (${COMMANDS[*]}), etcd $etcd"
  rm -f "$STAMP"
  mkdir -p "$BIN" "$(dirname "$STAMP")"
  # One go build for all: the packages they share compile once, on every core.
  (cd "$HERE" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
    -ldflags "$(version_ldflags "$kubernetes")" -o "$BIN/" "${packages[@]}" ./etcd ./pause)
  printf '%s' "$digest" >"$STAMP"
  log "built in $((SECONDS - started)) s into ${BIN#"$ROOT"/}"
  build_addons
}

main "$@"
