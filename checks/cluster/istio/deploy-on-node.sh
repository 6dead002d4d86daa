#!/usr/bin/env bash
# deploy.sh against the node of checks/cluster, with Istio built here (README.md, "Istio on the
# node"). run.sh starts it through checks/pods/run.sh --with-docker, whose dockerd holds the images
# checks/pods builds, with KUBECONFIG naming the run's kubeconfig:
#   deploy-on-node.sh deploy SOCKET CONTEXT   builds test.sh's probe image (curl.Dockerfile) into the
#                                             node's containerd, then runs ./deploy.sh --context
#                                             CONTEXT --no-addons with the settings below
#   deploy-on-node.sh load SOCKET IMAGE...    what deploy.sh's IMAGE_LOAD runs: `docker save` of the
#                                             images into the containerd listening on SOCKET
# deploy.sh gets: ISTIOCTL (the offline stage's istioctl), ISTIO_OVERLAY (local-overlay.yaml),
# ISTIO_HUB and ISTIO_TAG (build-images.sh --print), IMAGE_LOAD (this script's load), BUILD_IMAGE
# and RUNTIME_IMAGE (checks/pods's local base images), DOCKER_BUILDKIT=1 (current Docker's default
# builder, the one checks/pods builds with, so its build cache is used).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
readonly HERE ROOT
readonly DOCKER=/usr/bin/docker
readonly CURL_STANDIN=paymesh-local/curl:bookworm

# A folder of this run for the PATH (removed at exit).
docker_dir=""
trap '[[ -z "$docker_dir" ]] || rm -rf "$docker_dir"' EXIT

die() { printf 'deploy-on-node.sh: %s\n' "$*" >&2; exit 1; }

# pods_setting NAME: a readonly setting of checks/pods/run.sh (the base images are named there).
pods_setting() { sed -n "s/^readonly $1=//p" "$ROOT/checks/pods/run.sh"; }

load() {
  local socket=$1
  shift
  [[ -S "$socket" ]] || die "no containerd socket at $socket"
  "$DOCKER" save "$@" | ctr --address "$socket" --namespace k8s.io images import - >/dev/null
  echo "imported into the node's containerd: $*"
}

deploy() {
  local socket=$1 context=$2 settings runtime_image build_image
  [[ -n "${DOCKER_HOST:-}" ]] || die "DOCKER_HOST is not set: run through checks/pods/run.sh --with-docker"
  runtime_image=$(pods_setting RUNTIME_BASE_IMAGE)
  build_image=$(pods_setting BUILD_BASE_IMAGE)
  [[ -n "$runtime_image" && -n "$build_image" ]] || die "checks/pods/run.sh names no RUNTIME_BASE_IMAGE or BUILD_BASE_IMAGE"
  echo "test.sh's probe image: $CURL_STANDIN from curl.Dockerfile on $runtime_image"
  DOCKER_BUILDKIT=1 "$DOCKER" build -q --build-arg "BASE_IMAGE=$runtime_image" -t "$CURL_STANDIN" - \
    <"$HERE/curl.Dockerfile" >/dev/null
  load "$socket" "$CURL_STANDIN"
  settings=$("$HERE/build-images.sh" --print)
  echo "Istio built here: $(tr '\n' ' ' <<<"$settings")"
  # Debian's docker CLI, the one checks/pods builds with (and whose BuildKit needs no buildx
  # plugin), first on the PATH, whatever other docker the machine has.
  docker_dir=$(mktemp -d)
  ln -s "$DOCKER" "$docker_dir/docker"
  echo "./deploy.sh --context $context --no-addons"
  env PATH="$docker_dir:$PATH" ISTIOCTL="$ROOT/.tools/bin/istioctl" \
    ISTIO_OVERLAY="$HERE/local-overlay.yaml" \
    ISTIO_HUB="$(sed -n 's/^ISTIO_HUB=//p' <<<"$settings")" \
    ISTIO_TAG="$(sed -n 's/^ISTIO_TAG=//p' <<<"$settings")" \
    IMAGE_LOAD="$HERE/deploy-on-node.sh load $socket" \
    BUILD_IMAGE="$build_image" RUNTIME_IMAGE="$runtime_image" DOCKER_BUILDKIT=1 \
    "$ROOT/deploy.sh" --context "$context" --no-addons
}

main() {
  case "${1:-}" in
    deploy) [[ $# -eq 3 ]] || die "usage: deploy-on-node.sh deploy SOCKET CONTEXT"; deploy "$2" "$3" ;;
    load) [[ $# -ge 3 ]] || die "usage: deploy-on-node.sh load SOCKET IMAGE..."; shift; load "$@" ;;
    *) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
}

main "$@"
