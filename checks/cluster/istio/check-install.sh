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

passed=0
failed=0
dir=""

# Counts the PASS:/FAIL: lines of a command's output, printing them; a command that fails without
# printing a FAIL: line counts as one failure under WHAT.
counted() {
  local what=$1 output status=0
  shift
  output=$("$@" 2>&1) || status=$?
  [[ -z "$output" ]] || printf '%s\n' "$output"
  passed=$((passed + $(grep -c '^PASS: ' <<<"$output" || true)))
  local fails
  fails=$(grep -c '^FAIL: ' <<<"$output" || true)
  if [[ "$status" -ne 0 && "$fails" -eq 0 ]]; then
    echo "FAIL: $what"
    fails=1
  fi
  failed=$((failed + fails))
}

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
  if [[ "$status" -eq 0 ]]; then
    echo "PASS: the overlay sets no hub or tag (they come from build-images.sh, from the one Istio pin)"
    passed=$((passed + 1))
  else
    echo "FAIL: the overlay sets no hub or tag (they come from build-images.sh, from the one Istio pin)"
    failed=$((failed + 1))
  fi
  counted "istioctl manifest generate of the product's install" generate "$dir/product.yaml" "$RELEASE_HUB" "$release"
  counted "istioctl manifest generate with the overlay, hub $ISTIO_LOCAL_HUB, tag $tag" \
    generate "$dir/local.yaml" "$ISTIO_LOCAL_HUB" "$tag" "$ISTIO_LOCAL_OVERLAY"
  if [[ -s "$dir/product.yaml" && -s "$dir/local.yaml" ]]; then
    counted "the install compared" "$PYTHON" "$HERE/install_check.py" install "$dir/product.yaml" "$dir/local.yaml" "$ISTIO_LOCAL_HUB" "$tag"
    counted "istioctl kube-inject of manifests/ with the local install's injector" inject "$dir"
    counted "the injected pods" "$PYTHON" "$HERE/install_check.py" injected "$dir/manifests.injected.yaml" "$ISTIO_LOCAL_HUB" "$tag"
    counted "mutation: the local hub and tag without the overlay" catches_missing_overlay "$tag"
  fi
  echo "istio-install: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
}

main "$@"
