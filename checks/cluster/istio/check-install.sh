#!/usr/bin/env bash
# Offline proof of the Istio install this project's own cluster gets: what `istioctl install` of
# mesh/istio-install.yaml plus checks/cluster/istio/local-overlay.yaml, with the images built by
# build-images.sh, writes into the cluster, compared with the product's install.
#   checks/cluster/istio/check-install.sh
# Uses the offline stage's istioctl and Python (checks/offline/install-tools.sh, run first); needs
# no cluster, no root and no image. Prints one PASS:/FAIL: line per check and ends with
# `istio-install: N passed, N failed`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
readonly HERE ROOT
# shellcheck source=checks/cluster/istio/common.sh
source "$HERE/common.sh"
readonly BIN="$ROOT/.tools/bin"
readonly PYTHON="$ROOT/.tools/venv/bin/python"
# The images the release's istioctl writes: Istio's hub and deploy.sh's ISTIO_VERSION.
readonly RELEASE_HUB=docker.io/istio

dir=""

# shellcheck source=checks/counting.sh
source "$ROOT/checks/counting.sh"

# The generated install, as deploy.sh runs istioctl install: the product's file, then the overlays,
# then the hub and tag.
generate() {
  local out=$1 hub=$2 tag=$3
  shift 3
  local files=(-f "$ROOT/mesh/istio-install.yaml") overlay
  for overlay in "$@"; do files+=(-f "$overlay"); done
  "$BIN/istioctl" manifest generate "${files[@]}" --set "hub=$hub" --set "tag=$tag" >"$out"
}

inject() {
  local dir=$1
  "$PYTHON" "$ROOT/checks/offline/cluster_view.py" injector-config "$dir/local.yaml" "$dir/injector"
  "$BIN/kustomize" build "$ROOT/manifests" >"$dir/manifests.yaml"
  "$BIN/istioctl" kube-inject --revision default --injectConfigFile "$dir/injector/config" \
    --valuesFile "$dir/injector/values.json" --meshConfigFile "$dir/injector/mesh.yaml" \
    -f "$dir/manifests.yaml" >"$dir/manifests.injected.yaml"
}

# The comparison must fail when the overlay is left out: the three settings are then missing.
catches_missing_overlay() {
  local tag=$1 output
  generate "$dir/no-overlay.yaml" "$ISTIO_LOCAL_HUB" "$tag" || return 1
  if output=$("$PYTHON" "$HERE/install_check.py" install "$dir/product.yaml" "$dir/no-overlay.yaml" "$ISTIO_LOCAL_HUB" "$tag"); then
    echo "FAIL: mutation overlay-missing: the comparison passed an install without the overlay"
    return 1
  fi
  if grep -q '^FAIL: istiod.s environment' <<<"$output" && grep -q '^FAIL: mesh config: no default metrics provider' <<<"$output"; then
    echo "PASS: mutation overlay-missing: caught (istiod's environment and the metrics provider fail)"
  else
    echo "FAIL: mutation overlay-missing: not caught by the environment and metrics checks"
    return 1
  fi
}

main() {
  local release tag status
  "$ROOT/checks/offline/install-tools.sh" >/dev/null
  dir=$(mktemp -d /tmp/paymesh-istio-install.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  release=$(sed -n 's/^readonly ISTIO_VERSION=//p' "$ROOT/deploy.sh")
  tag=$(istio_local_tag)
  echo "product: $RELEASE_HUB, Istio $release (deploy.sh); local: $ISTIO_LOCAL_HUB:$tag, built from istio.io/istio $(istio_module_version)"

  status=0
  if grep -Eq '^ *(hub|tag):' "$ISTIO_LOCAL_OVERLAY"; then status=1; fi
  record "$status" "the overlay sets no hub or tag (they come from build-images.sh, from the one Istio pin)"
  status=0
  generate "$dir/product.yaml" "$RELEASE_HUB" "$release" || status=$?
  record "$status" "istioctl manifest generate of the product's install ($RELEASE_HUB, $release)"
  status=0
  generate "$dir/local.yaml" "$ISTIO_LOCAL_HUB" "$tag" "$ISTIO_LOCAL_OVERLAY" || status=$?
  record "$status" "istioctl manifest generate with the overlay, hub $ISTIO_LOCAL_HUB, tag $tag"
  if [[ -s "$dir/product.yaml" && -s "$dir/local.yaml" ]]; then
    counted "$PYTHON" "$HERE/install_check.py" install "$dir/product.yaml" "$dir/local.yaml" "$ISTIO_LOCAL_HUB" "$tag"
    status=0
    inject "$dir" || status=$?
    record "$status" "istioctl kube-inject of manifests/ with the local install's injector"
    counted "$PYTHON" "$HERE/install_check.py" injected "$dir/manifests.injected.yaml" "$ISTIO_LOCAL_HUB" "$tag"
    counted catches_missing_overlay "$tag"
  fi
  echo "istio-install: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
}

main "$@"
