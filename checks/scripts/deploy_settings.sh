#!/usr/bin/env bash
# deploy.sh's settings (options and environment) refused or documented before it touches anything:
# each bad setting must stop deploy.sh with its exit status and a message naming the setting, and
# --help must describe every setting. Runs deploy.sh itself; needs no cluster, Docker or network
# (every case stops before deploy.sh's first step). Prints one PASS:/FAIL: line per case.
#   checks/scripts/deploy_settings.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT

passed=0
failed=0

# expect STATUS TEXT [VAR=VALUE...] -- ARGUMENTS...: deploy.sh run with the variables set exits
# with STATUS and prints TEXT.
expect() {
  local status=$1 text=$2 variables=() output code=0
  shift 2
  while [[ "$1" != -- ]]; do variables+=("$1"); shift; done
  shift
  output=$(cd "$work" && env -u KUBE_CONTEXT -u IMAGE_LOAD -u ISTIOCTL -u ISTIO_ADDONS_DIR -u ISTIO_OVERLAY \
    -u ISTIO_HUB -u ISTIO_TAG -u BUILD_IMAGE -u RUNTIME_IMAGE ${variables[@]+"${variables[@]}"} bash "$ROOT/deploy.sh" "$@" 2>&1) || code=$?
  local what
  what=$(printf '%s ' deploy.sh ${variables[@]+"${variables[@]}"} "$@")
  if [[ "$code" -eq "$status" && "$output" == *"$text"* ]]; then
    echo "PASS: ${what% } -> exit $status, '$text'"
    passed=$((passed + 1))
  else
    printf '    %s\n' "$output" | tail -n 5
    echo "FAIL: ${what% } -> expected exit $status and '$text', got exit $code"
    failed=$((failed + 1))
  fi
}

main() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  printf 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\n' >"$work/overlay.yaml"
  printf '#!/bin/sh\necho "client version: 1.31.4"\n' >"$work/istioctl"
  chmod +x "$work/istioctl"

  local setting
  for setting in --no-addons --grafana --delete --context KUBE_CONTEXT IMAGE_LOAD IMAGE_REGISTRY ISTIOCTL \
    ISTIO_ADDONS_DIR ISTIO_OVERLAY ISTIO_HUB ISTIO_TAG BUILD_IMAGE RUNTIME_IMAGE WAIT_TIMEOUT GATEWAY_PORT; do
    expect 0 "$setting" -- --help
  done
  expect 2 "--grafana and --no-addons contradict" -- --grafana --no-addons
  expect 2 "ISTIOCTL=$work/missing is not an executable file" "ISTIOCTL=$work/missing" --
  expect 2 "set ISTIO_ADDONS_DIR" "ISTIOCTL=$work/istioctl" --
  expect 2 "ISTIO_ADDONS_DIR=$work/missing is not a folder" "ISTIOCTL=$work/istioctl" "ISTIO_ADDONS_DIR=$work/missing" --
  expect 2 "ISTIO_OVERLAY: $work/missing.yaml is not a file" "ISTIO_OVERLAY=overlay.yaml:$work/missing.yaml" --
  expect 2 "ISTIO_TAG=1.31 4 is not an image tag" "ISTIO_TAG=1.31 4" --
  expect 2 "BUILD_IMAGE=mirror.example/temurin:25 jdk is not an image reference" "BUILD_IMAGE=mirror.example/temurin:25 jdk" --
  expect 2 "RUNTIME_IMAGE=-debian is not an image reference" "RUNTIME_IMAGE=-debian" --
  expect 1 "IMAGE_LOAD must be kind, minikube, k3d, registry, none or a command found here (got 'no-such-loader --all')" \
    "IMAGE_LOAD=no-such-loader --all" -- --context some-cluster
  expect 1 "IMAGE_LOAD=registry needs IMAGE_REGISTRY" "IMAGE_LOAD=registry" -- --context some-cluster
  expect 1 "IMAGE_LOAD=\"/path/to/loader ARGS\"" -- --context some-cluster
  echo "deploy settings: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
}

main "$@"
