#!/usr/bin/env bash
# Builds both services and deploys them with Istio, Prometheus and Kiali.
#
#   ./deploy.sh                  use the kind cluster "paymesh" (created when it does not exist);
#                                the gateway answers at http://localhost:8080 (GATEWAY_PORT)
#   ./deploy.sh --context NAME   use an existing kubectl context instead (minikube, k3d, kind, any
#                                cluster); the same as KUBE_CONTEXT=NAME
#   ./deploy.sh --grafana        also install Grafana with the Istio release's dashboards
#   ./deploy.sh --no-addons      install no Prometheus, Kiali or Grafana (a cluster that has its own,
#                                or cannot pull their images)
#   ./deploy.sh --delete         remove it all: the kind cluster; with --context, what this script
#                                installed in that cluster (Istio only when this script installed it)
#   ./deploy.sh --help
#
# Environment:
#   KUBE_CONTEXT    the kubectl context to use, like --context
#   GATEWAY_PORT    the host port of a new kind cluster's gateway (default 8080); it must be free
#   IMAGE_LOAD      how the images reach the cluster: kind, minikube, k3d, registry or none;
#                   guessed from the context name (kind-*, k3d-*, minikube) when unset. Any other
#                   value is a command, run with the two image names appended, that copies images
#                   from this machine's Docker engine onto the cluster's nodes; its words are split
#                   on spaces (no quoting), e.g. IMAGE_LOAD="/opt/bin/load-images --node worker-1"
#   IMAGE_REGISTRY  for IMAGE_LOAD=registry: a prefix the cluster pulls from, such as
#                   registry.example.com/team; the images are pushed there (docker login first)
#   ISTIOCTL        an istioctl of Istio 1.31 to use instead of downloading the release (for example
#                   one built from source); Prometheus, Kiali and Grafana then come from
#                   ISTIO_ADDONS_DIR, or --no-addons leaves them out
#   ISTIO_ADDONS_DIR  a folder with the release's samples/addons files (prometheus.yaml, kiali.yaml,
#                   grafana.yaml); default: the downloaded release's
#   ISTIO_OVERLAY   more IstioOperator files for `istioctl install`, applied over
#                   mesh/istio-install.yaml in order; several are separated by ':'
#   ISTIO_HUB, ISTIO_TAG  where istiod's and the proxies' images come from (istioctl's hub and tag),
#                   e.g. a mirror of docker.io/istio; default: the release's (docker.io/istio, its version)
#   BUILD_IMAGE, RUNTIME_IMAGE  the base images of the Dockerfile's two stages (its ARGs of these
#                   names), e.g. a mirror of the pinned ones; default: the Dockerfile's pinned images
#   WAIT_TIMEOUT    how long to wait for each rollout (default 600s)
#
# Running it again changes nothing that is already in place; a rebuilt image restarts its pods.
# Written for bash 3.2 and newer (macOS's /bin/bash is 3.2); the test command checks that.
set -Eeuo pipefail

# --- Pinned versions of what this script installs (README.md lists every pin and where it is) ----
# Istio stays on the 1.31 minor: the offline checks build istioctl and Istio's analyzers from the
# Go module proxy, which serves 1.31 and no newer minor; 1.31.4 is its newest 1.31 patch release.
readonly ISTIO_VERSION=1.31.4
# The kind release this is written for, and the Kubernetes 1.36 node image built for that release
# (its default is 1.37, newer than the Kubernetes versions Istio 1.31 supports and than the 1.36
# schemas the offline checks validate against).
readonly KIND_VERSION=v0.33.0
readonly KIND_NODE_IMAGE="kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"
# Prometheus, Kiali and Grafana come from samples/addons of the Istio release above, which pins
# their images. PostgreSQL is pinned in manifests/*-db.yaml, the base images in the Dockerfile,
# and the services' version is the tag of their images in manifests/ (read below, never repeated).
# -------------------------------------------------------------------------------------------------

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT
# Where the script was started: relative paths in its settings are taken from here.
readonly START_DIR="$PWD"
readonly KIND_CLUSTER=paymesh
readonly WORK_DIR="$ROOT/.work"
readonly ISTIO_DIR="$WORK_DIR/istio-$ISTIO_VERSION"
readonly RELEASE_ISTIOCTL="$ISTIO_DIR/bin/istioctl"
readonly ISTIO_VERIFIED_MARKER="$ISTIO_DIR/.sha256-verified"
# Annotations on the istio-system namespace: what this script installed there, so that --delete on
# a context removes that and leaves an Istio or addons it found in place.
readonly ISTIO_OWNER_ANNOTATION=paymesh.dev/istio-installed-by
readonly ADDONS_ANNOTATION=paymesh.dev/addons-installed-by-deploy-sh
readonly OVERLAY_DIR="$WORK_DIR/deploy/registry-overlay"
readonly WAIT_TIMEOUT="${WAIT_TIMEOUT:-600s}"
readonly GATEWAY_PORT="${GATEWAY_PORT:-8080}"
# The gateway's NodePort (mesh/istio-install.yaml) that kind publishes on 127.0.0.1:GATEWAY_PORT.
readonly GATEWAY_NODE_PORT=30080
readonly KIND_CONFIG="$WORK_DIR/deploy/kind-cluster.yaml"
# module, namespace, database Secret, database user
readonly SERVICES=(
  "invoice-app invoice invoice-db-credentials invoice_db"
  "payment-provider payment payment-db-credentials payment_db"
)
readonly APP_NAMESPACES=(invoice payment)
readonly PROBE_NAMESPACE=paymesh-probe

action=deploy
mode=kind
context=""
image_load=""
# IMAGE_LOAD as a command: its words (set by choose_image_load).
image_load_command=()
with_grafana=false
with_addons=true
# The istioctl used (ISTIOCTL or the release's) and where the addon manifests come from.
istioctl_path="${ISTIOCTL:-$RELEASE_ISTIOCTL}"
addons_dir="${ISTIO_ADDONS_DIR:-$ISTIO_DIR/samples/addons}"
# istioctl install's arguments after -f mesh/istio-install.yaml (set by parse_arguments).
istio_install_options=()
# docker build's --build-arg options for BUILD_IMAGE and RUNTIME_IMAGE (set by parse_arguments).
base_image_options=()
app_version=""
manifests_source="$ROOT/manifests"
total_steps=0
step_number=0
step_title="start-up"
step_hint=""
# Space-separated module names (plain strings rather than arrays: see the bash 3.2 note above).
changed_modules=""
download_dir=""
network_policy_note=""

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 1
}

usage_error() {
  printf 'deploy.sh: %s (see ./deploy.sh --help)\n' "$*" >&2
  exit 2
}

step() {
  step_number=$((step_number + 1))
  step_title=$1
  step_hint=$2
  printf '\n[%d/%d] %s ...\n' "$step_number" "$total_steps" "$step_title"
}

on_error() {
  local status=$1 line=$2 calls
  trap - ERR
  # A failure inside $(...) or a pipeline is reported once, by the script itself.
  if [[ "$BASH_SUBSHELL" -gt 0 ]]; then
    exit "$status"
  fi
  # The call chain without this handler and the script's top level.
  calls=$(printf '%s < ' "${FUNCNAME[@]:1:${#FUNCNAME[@]}-2}")
  printf '\nFAILED at step [%d/%d] %s (exit status %d; deploy.sh line %d in %s).\n' \
    "$step_number" "$total_steps" "$step_title" "$status" "$line" "${calls% < }" >&2
  if [[ -n "$step_hint" ]]; then
    printf 'To look at:\n  %s\n' "${step_hint//; /$'\n'  }" >&2
  fi
  printf 'Fix the cause and run the same command again: the steps already done are skipped or repeated harmlessly.\n' >&2
  exit "$status"
}
trap 'on_error $? $LINENO' ERR

remove_partial_download() {
  if [[ -n "$download_dir" ]]; then
    rm -rf "$download_dir"
  fi
}
trap remove_partial_download EXIT

# kubectl and istioctl always name the context, so the user's current context never matters.
kc() { kubectl --context "$context" "$@"; }
istioctl_pinned() { "$istioctl_path" --context "$context" "$@"; }

parse_arguments() {
  local context_argument="${KUBE_CONTEXT:-}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --context)
        [[ $# -ge 2 && -n "$2" ]] || usage_error "--context needs a context name"
        context_argument=$2
        shift 2
        ;;
      --context=*)
        context_argument=${1#--context=}
        [[ -n "$context_argument" ]] || usage_error "--context needs a context name"
        shift
        ;;
      --delete) action=delete; shift ;;
      --grafana) with_grafana=true; shift ;;
      --no-addons) with_addons=false; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage_error "unknown argument '$1'" ;;
    esac
  done
  if [[ -n "$context_argument" ]]; then
    mode=context
    context=$context_argument
  else
    mode=kind
    context="kind-$KIND_CLUSTER"
  fi
  [[ "$GATEWAY_PORT" =~ ^[0-9]+$ && "$GATEWAY_PORT" -ge 1 && "$GATEWAY_PORT" -le 65535 ]] \
    || usage_error "GATEWAY_PORT must be a port number (got '$GATEWAY_PORT')"
  if [[ "$with_grafana" == true && "$with_addons" == false ]]; then
    usage_error "--grafana and --no-addons contradict each other"
  fi
  parse_istio_settings
  parse_base_images
}

# BUILD_IMAGE and RUNTIME_IMAGE, passed to docker build as the Dockerfile's ARGs of those names.
parse_base_images() {
  local name value
  base_image_options=()
  for name in BUILD_IMAGE RUNTIME_IMAGE; do
    value=${!name:-}
    [[ -n "$value" ]] || continue
    [[ "$value" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || usage_error "$name=$value is not an image reference"
    base_image_options+=(--build-arg "$name=$value")
  done
}

# A path given relative to where the script was started, made absolute (the script runs in ROOT).
absolute_path() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$START_DIR" "$1" ;;
  esac
}

# ISTIOCTL, ISTIO_ADDONS_DIR, ISTIO_OVERLAY, ISTIO_HUB and ISTIO_TAG, checked before anything runs.
parse_istio_settings() {
  if [[ -n "${ISTIOCTL:-}" ]]; then
    [[ -x "$ISTIOCTL" && ! -d "$ISTIOCTL" ]] || usage_error "ISTIOCTL=$ISTIOCTL is not an executable file"
    istioctl_path=$(absolute_path "$ISTIOCTL")
    if [[ "$action" == deploy && "$with_addons" == true && -z "${ISTIO_ADDONS_DIR:-}" ]]; then
      usage_error "with ISTIOCTL the Istio release is not downloaded, so its addons are not here: set ISTIO_ADDONS_DIR to a release's samples/addons folder, or use --no-addons"
    fi
  fi
  if [[ -n "${ISTIO_ADDONS_DIR:-}" ]]; then
    [[ -d "$ISTIO_ADDONS_DIR" ]] || usage_error "ISTIO_ADDONS_DIR=$ISTIO_ADDONS_DIR is not a folder"
    addons_dir=$(absolute_path "$ISTIO_ADDONS_DIR")
  fi
  istio_install_options=()
  local overlays overlay
  if [[ -n "${ISTIO_OVERLAY:-}" ]]; then
    IFS=: read -r -a overlays <<<"$ISTIO_OVERLAY"
    for overlay in ${overlays[@]+"${overlays[@]}"}; do
      [[ -f "$overlay" ]] || usage_error "ISTIO_OVERLAY: $overlay is not a file"
      istio_install_options+=(-f "$(absolute_path "$overlay")")
    done
  fi
  if [[ -n "${ISTIO_HUB:-}" ]]; then
    istio_install_options+=(--set "hub=$ISTIO_HUB")
  fi
  if [[ -n "${ISTIO_TAG:-}" ]]; then
    [[ "$ISTIO_TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || usage_error "ISTIO_TAG=$ISTIO_TAG is not an image tag"
    istio_install_options+=(--set "tag=$ISTIO_TAG")
  fi
}

# The services' version is the tag of their images in manifests/: deploy.sh builds exactly the
# images the manifests name, so the two cannot disagree.
read_app_version() {
  local entry module tag
  for entry in "${SERVICES[@]}"; do
    read -r module _ <<<"$entry"
    tag=$(sed -n "s|^ *image: paymesh/$module:\([^ ]*\) *\$|\1|p" "$ROOT/manifests/$module.yaml")
    [[ -n "$tag" ]] || die "manifests/$module.yaml names no image paymesh/$module:TAG"
    if [[ -n "$app_version" && "$tag" != "$app_version" ]]; then
      die "manifests/ tag the two services differently ($app_version and $tag); give both the same version"
    fi
    app_version=$tag
  done
}

# How the images reach the cluster's nodes; set IMAGE_LOAD to override the guess.
choose_image_load() {
  if [[ -n "${IMAGE_LOAD:-}" ]]; then
    image_load=$IMAGE_LOAD
  elif [[ "$mode" == kind || "$context" == kind-* ]]; then
    image_load=kind
  elif [[ "$context" == k3d-* ]]; then
    image_load=k3d
  elif [[ "$context" == minikube ]]; then
    image_load=minikube
  elif [[ -n "${IMAGE_REGISTRY:-}" ]]; then
    image_load=registry
  else
    cat >&2 <<EOF
deploy.sh: context '$context' is not a kind, k3d or minikube cluster, so its nodes cannot see the
images built here. Choose one:
  IMAGE_REGISTRY=registry.example.com/team ./deploy.sh --context $context
      pushes paymesh/invoice-app and paymesh/payment-provider under that prefix (run docker login
      first) and deploys them from there; the cluster must be allowed to pull from it
  IMAGE_LOAD=minikube ./deploy.sh --context $context
      for a minikube profile whose name differs from "minikube" (the context is named after it)
  IMAGE_LOAD=none ./deploy.sh --context $context
      when the cluster already sees this Docker engine's images (Docker Desktop's Kubernetes)
  IMAGE_LOAD="/path/to/loader ARGS" ./deploy.sh --context $context
      a command of yours that copies the images named after ARGS from this Docker engine onto
      every node
EOF
    exit 1
  fi
  image_load_command=()
  case "$image_load" in
    kind | minikube | k3d | none) ;;
    registry) [[ -n "${IMAGE_REGISTRY:-}" ]] || die "IMAGE_LOAD=registry needs IMAGE_REGISTRY (e.g. registry.example.com/team)" ;;
    *)
      read -r -a image_load_command <<<"$image_load"
      [[ ${#image_load_command[@]} -gt 0 ]] || die "IMAGE_LOAD is blank"
      if [[ "${image_load_command[0]}" == */* ]]; then
        image_load_command[0]=$(absolute_path "${image_load_command[0]}")
      fi
      command -v "${image_load_command[0]}" >/dev/null 2>&1 \
        || die "IMAGE_LOAD must be kind, minikube, k3d, registry, none or a command found here (got '$image_load')"
      image_load="command"
      ;;
  esac
}

# --- step: prerequisites --------------------------------------------------------------------------

missing=""
require_tool() {
  local tool=$1 how=$2
  command -v "$tool" >/dev/null 2>&1 || missing="$missing  $tool: $how"$'\n'
}

check_prerequisites() {
  missing=""
  local kind_how="$KIND_VERSION from https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
  # What each run needs: deploy builds images and downloads Istio; --delete of the kind cluster needs
  # kind and Docker only; --delete on a context needs kubectl and the Istio release (for istioctl).
  # With ISTIOCTL nothing is downloaded.
  local needs_docker=false needs_istio_download=false needs_kubectl=false
  if [[ "$action" == deploy ]]; then
    needs_docker=true; needs_istio_download=true; needs_kubectl=true
  elif [[ "$mode" == kind ]]; then
    needs_docker=true
    require_tool kind "$kind_how"
  else
    needs_istio_download=true; needs_kubectl=true
  fi
  if [[ -n "${ISTIOCTL:-}" ]]; then
    needs_istio_download=false
  fi
  if [[ "$needs_kubectl" == true ]]; then
    require_tool kubectl "https://kubernetes.io/docs/tasks/tools/ (within one minor version of Kubernetes 1.36)"
  fi
  if [[ "$needs_docker" == true ]]; then
    require_tool docker "https://docs.docker.com/get-started/get-docker/ (Docker Desktop, or Docker Engine on Linux)"
  fi
  if [[ "$needs_istio_download" == true ]]; then
    require_tool curl "your package manager (apt-get install curl, brew install curl)"
    require_tool tar "your package manager"
    if ! command -v sha256sum >/dev/null 2>&1 && ! command -v shasum >/dev/null 2>&1; then
      missing="$missing  sha256sum or shasum: coreutils on Linux; macOS ships shasum"$'\n'
    fi
  fi
  if [[ "$action" == deploy ]]; then
    require_tool openssl "your package manager (apt-get install openssl); it makes the database passwords"
    case "$image_load" in
      kind) require_tool kind "$kind_how" ;;
      minikube) require_tool minikube "https://minikube.sigs.k8s.io/docs/start/" ;;
      k3d) require_tool k3d "https://k3d.io/#installation" ;;
      *) ;;
    esac
  fi
  if [[ -n "$missing" ]]; then
    printf 'Missing tools (name: where to get it):\n%s' "$missing" >&2
    exit 1
  fi

  if [[ "$needs_docker" == true ]] && ! docker info >/dev/null 2>&1; then
    die "docker is installed but its engine does not answer ('docker info' failed): start Docker Desktop or the Docker service (sudo systemctl start docker), and check that your user may use it"
  fi
  if command -v kind >/dev/null 2>&1; then
    local kind_found
    kind_found=$(kind version 2>/dev/null || echo "kind (version unknown)")
    if [[ "$kind_found" != "kind $KIND_VERSION "* ]]; then
      echo "note: found '$kind_found'; this project is written for kind $KIND_VERSION"
    fi
  fi
  if [[ "$action" == deploy ]] && ! command -v jq >/dev/null 2>&1; then
    echo "note: jq is not installed; deploy.sh does not need it, ./test.sh does (https://jqlang.org/download/)"
  fi
  if [[ "$action" == deploy ]]; then
    local file
    for file in manifests/kustomization.yaml mesh/kustomization.yaml mesh/istio-install.yaml \
      Dockerfile manifests/kind-cluster.yaml; do
      [[ -f "$ROOT/$file" ]] || die "$file is missing from this checkout"
    done
  fi
  if [[ "$mode" == kind ]]; then
    echo "target: kind cluster '$KIND_CLUSTER' (context $context)"
  else
    kubectl config get-contexts "$context" >/dev/null 2>&1 \
      || die "kubectl has no context named '$context' (see: kubectl config get-contexts)"
    echo "target: existing context '$context'"
  fi
  if [[ "$action" == deploy ]]; then
    if [[ "$image_load" == command ]]; then
      echo "images reach the cluster by: the command IMAGE_LOAD=${IMAGE_LOAD:-}"
    else
      echo "images reach the cluster by: $image_load"
    fi
  fi
}

# --- step: cluster --------------------------------------------------------------------------------

# True when something on this machine accepts connections on 127.0.0.1:PORT (bash's /dev/tcp).
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# manifests/kind-cluster.yaml with the gateway's host port set to GATEWAY_PORT, in .work/.
write_kind_config() {
  local lines
  lines=$(grep -c '^ *hostPort: ' "$ROOT/manifests/kind-cluster.yaml" || true)
  [[ "$lines" == 1 ]] || die "manifests/kind-cluster.yaml must publish exactly one hostPort (found $lines)"
  mkdir -p "$(dirname "$KIND_CONFIG")"
  sed "s/^\( *hostPort: \)[0-9]*/\1$GATEWAY_PORT/" "$ROOT/manifests/kind-cluster.yaml" >"$KIND_CONFIG"
}

# An existing cluster keeps the port it was created with; say so instead of answering elsewhere.
check_existing_gateway_port() {
  local published
  published=$(docker port "$KIND_CLUSTER-control-plane" "$GATEWAY_NODE_PORT/tcp" 2>/dev/null | head -n 1 || true)
  if [[ -n "$published" && "${published##*:}" != "$GATEWAY_PORT" ]]; then
    die "the kind cluster '$KIND_CLUSTER' publishes its gateway on $published, not on port $GATEWAY_PORT: run with GATEWAY_PORT=${published##*:}, or ./deploy.sh --delete first to recreate it"
  fi
}

prepare_cluster() {
  if [[ "$mode" == kind ]]; then
    if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
      echo "kind cluster '$KIND_CLUSTER' exists: using it"
      check_existing_gateway_port
      if ! kubectl config get-contexts "$context" >/dev/null 2>&1; then
        kind export kubeconfig --name "$KIND_CLUSTER"
      fi
    else
      if port_in_use "$GATEWAY_PORT"; then
        die "port $GATEWAY_PORT on 127.0.0.1 is taken by another program, and the cluster's gateway is published there: choose a free one, e.g. GATEWAY_PORT=18080 ./deploy.sh (./test.sh reads the same variable)"
      fi
      write_kind_config
      kind create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" \
        --config "$KIND_CONFIG" --wait 180s
    fi
  else
    kubectl config get-contexts "$context" >/dev/null 2>&1 \
      || die "kubectl has no context named '$context' (see: kubectl config get-contexts)"
  fi
  kc version
  kc wait --for=condition=Ready nodes --all --timeout=180s
}

# kindnet (kind's network plugin since v0.24) enforces NetworkPolicies through the kernel's
# nfqueue; where the kernel lacks it (reported on WSL2) kindnet logs that it could not open its
# nfqueue socket and every NetworkPolicy silently has no effect. Other network plugins are judged
# by ./test.sh, which tries a deny-all policy of its own.
check_network_policy_enforcement() {
  if ! kc -n kube-system get daemonset kindnet >/dev/null 2>&1; then
    echo "NetworkPolicies: the network plugin is not kindnet; ./test.sh shows whether it enforces them"
    return 0
  fi
  kc -n kube-system rollout status daemonset/kindnet --timeout=120s >/dev/null || true
  local failure
  failure=$(kc -n kube-system logs -l app=kindnet --tail=-1 --prefix 2>/dev/null \
    | grep -m 1 'could not open nfqueue socket' || true)
  if [[ -z "$failure" ]]; then
    echo "NetworkPolicies: kindnet runs its policy controller (no nfqueue failure in its log)"
    return 0
  fi
  network_policy_note="NetworkPolicies are NOT enforced on this host: kindnet could not open its nfqueue socket (the kernel lacks nfnetlink_queue, as on WSL2). The mesh's walls (mTLS, AuthorizationPolicy, gateway) still hold; ./test.sh reports the network wall as not enforced on this host. kindnet said: $failure"
  printf '\nWARNING: %s\n\n' "$network_policy_note"
}

# --- step: istioctl -------------------------------------------------------------------------------

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  else
    shasum -a 256 "$1" | awk '{print $1}'
  fi
}

# The release archive's name, as Istio's own download script builds it.
istio_archive_name() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=osx ;;
    *) die "Istio publishes istioctl archives for Linux and macOS only (this is $(uname -s))" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no Istio release archive for the architecture $(uname -m)" ;;
  esac
  if [[ "$os" == osx && "$arch" == amd64 ]]; then
    echo "istio-$ISTIO_VERSION-osx.tar.gz"
  else
    echo "istio-$ISTIO_VERSION-$os-$arch.tar.gz"
  fi
}

# Downloads the pinned Istio release into .work/ once. The checksum file comes from the same release
# page, so it proves the archive arrived whole and unaltered in transit, not who published it.
fetch_istio() {
  if [[ -x "$RELEASE_ISTIOCTL" && -f "$ISTIO_VERIFIED_MARKER" ]]; then
    echo "istioctl $ISTIO_VERSION is cached in ${ISTIO_DIR#"$ROOT"/}"
    return 0
  fi
  local archive url expected actual
  archive=$(istio_archive_name)
  url="https://github.com/istio/istio/releases/download/$ISTIO_VERSION/$archive"
  mkdir -p "$WORK_DIR"
  download_dir=$(mktemp -d "$WORK_DIR/istio-download.XXXXXX")
  echo "downloading $url"
  curl -fsSL --retry 3 -o "$download_dir/$archive" "$url"
  curl -fsSL --retry 3 -o "$download_dir/$archive.sha256" "$url.sha256"
  expected=$(awk 'NR == 1 {print $1}' "$download_dir/$archive.sha256")
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "$url.sha256 holds no SHA-256 checksum"
  actual=$(sha256_of "$download_dir/$archive")
  [[ "$actual" == "$expected" ]] || die "checksum mismatch for $archive: expected $expected, got $actual"
  echo "sha256 verified: $actual"
  tar -xzf "$download_dir/$archive" -C "$download_dir"
  [[ -x "$download_dir/istio-$ISTIO_VERSION/bin/istioctl" ]] || die "$archive has no bin/istioctl"
  rm -rf "$ISTIO_DIR"
  mv "$download_dir/istio-$ISTIO_VERSION" "$ISTIO_DIR"
  rm -rf "$download_dir"
  download_dir=""
  echo "$actual  $archive" >"$ISTIO_VERIFIED_MARKER"
  "$RELEASE_ISTIOCTL" version --remote=false
}

# The release's istioctl, or the one ISTIOCTL names.
prepare_istioctl() {
  if [[ -z "${ISTIOCTL:-}" ]]; then
    fetch_istio
    return 0
  fi
  local version
  version=$("$istioctl_path" version --remote=false 2>/dev/null | head -n 1 || true)
  [[ -n "$version" ]] || die "ISTIOCTL=$istioctl_path does not answer 'istioctl version --remote=false'"
  echo "istioctl: $istioctl_path (ISTIOCTL), $version; nothing downloaded"
  case "$version" in
    *"$ISTIO_VERSION"*) ;;
    *) echo "note: this project is written for Istio $ISTIO_VERSION's istioctl; this one reports '$version'" ;;
  esac
}

# What the step titles call the istioctl in use.
istioctl_source() {
  if [[ -n "${ISTIOCTL:-}" ]]; then echo "ISTIOCTL"; else echo "istioctl $ISTIO_VERSION"; fi
}

# --- step: Istio ----------------------------------------------------------------------------------

# The annotation ANNOTATION of the istio-system namespace ("" when absent).
istio_system_annotation() {
  kc get namespace istio-system -o "jsonpath={.metadata.annotations.${1//./\\.}}" 2>/dev/null || true
}

install_istio() {
  local running_image installed_here=false
  running_image=$(kc -n istio-system get deployment istiod \
    -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)
  if [[ -z "$running_image" || -n "$(istio_system_annotation "$ISTIO_OWNER_ANNOTATION")" ]]; then
    installed_here=true
  else
    echo "note: this cluster ran istiod ($running_image) before deploy.sh installed Istio: it is reconfigured with mesh/istio-install.yaml, and ./deploy.sh --delete will leave it in place"
  fi
  if [[ -n "$running_image" && "$running_image" == *":${ISTIO_TAG:-$ISTIO_VERSION}"* ]]; then
    echo "istiod ${ISTIO_TAG:-$ISTIO_VERSION} already runs; re-applying the install config"
  else
    istioctl_pinned x precheck
  fi
  # Recorded before the install, so that --delete after a failed install still removes it.
  if [[ "$installed_here" == true ]]; then
    kc get namespace istio-system >/dev/null 2>&1 || kc create namespace istio-system
    kc annotate --overwrite namespace istio-system "$ISTIO_OWNER_ANNOTATION=deploy.sh" >/dev/null
  fi
  istioctl_pinned install -y -f "$ROOT/mesh/istio-install.yaml" ${istio_install_options[@]+"${istio_install_options[@]}"}
  kc -n istio-system rollout status deployment/istiod --timeout="$WAIT_TIMEOUT"
  kc -n istio-system rollout status deployment/istio-ingressgateway --timeout="$WAIT_TIMEOUT"
}

# --- step: namespaces and database credentials ----------------------------------------------------

# With IMAGE_REGISTRY the manifests are applied through a generated overlay that renames the images.
prepare_manifests_source() {
  if [[ "$image_load" != registry ]]; then
    manifests_source="$ROOT/manifests"
    return 0
  fi
  local registry=${IMAGE_REGISTRY%/} entry module
  mkdir -p "$OVERLAY_DIR"
  {
    echo "# Generated by deploy.sh for IMAGE_REGISTRY=$registry; not committed."
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - ../../../manifests"
    echo "images:"
    for entry in "${SERVICES[@]}"; do
      read -r module _ <<<"$entry"
      echo "  - name: paymesh/$module"
      echo "    newName: $registry/paymesh/$module"
    done
  } >"$OVERLAY_DIR/kustomization.yaml"
  manifests_source=$OVERLAY_DIR
}

# Prints the Namespace objects of the rendered manifests (Kustomize output: one object per
# '---'-separated document, top-level keys at column 0).
namespace_documents() {
  kubectl kustomize "$manifests_source" | awk '
    function flush() { if (is_namespace) printf "---\n%s", doc; doc = ""; is_namespace = 0 }
    /^---$/ { flush(); next }
    { doc = doc $0 "\n"; if ($0 == "kind: Namespace") is_namespace = 1 }
    END { flush() }'
}

# A Secret is created only when it does not exist: the password of a running database is never
# replaced. 'kubectl create' (not apply) refuses to overwrite one that appeared meanwhile, and the
# password goes from openssl to kubectl through a pipe, never on a command line or on disk.
ensure_db_secret() {
  local namespace=$1 name=$2 user=$3
  if kc -n "$namespace" get secret "$name" >/dev/null 2>&1; then
    echo "secret $namespace/$name exists: kept as it is"
    return 0
  fi
  openssl rand -hex 24 | tr -d '\n' \
    | kc -n "$namespace" create secret generic "$name" \
      --from-literal=username="$user" --from-file=password=/dev/stdin
}

create_namespaces_and_secrets() {
  local namespaces entry module namespace secret user
  namespaces=$(namespace_documents)
  [[ -n "$namespaces" ]] || die "kubectl kustomize manifests/ renders no Namespace"
  kc apply -f - <<<"$namespaces"
  for entry in "${SERVICES[@]}"; do
    read -r module namespace secret user <<<"$entry"
    ensure_db_secret "$namespace" "$secret" "$user"
  done
}

# --- step: images ---------------------------------------------------------------------------------

image_of() { echo "paymesh/$1:$app_version"; }

build_images() {
  local entry module image before after
  changed_modules=""
  for entry in "${SERVICES[@]}"; do
    read -r module _ <<<"$entry"
    image=$(image_of "$module")
    before=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    docker build -f "$ROOT/Dockerfile" --build-arg "SERVICE=$module" ${base_image_options[@]+"${base_image_options[@]}"} \
      -t "$image" "$ROOT"
    after=$(docker image inspect --format '{{.Id}}' "$image")
    if [[ -n "$before" && "$before" != "$after" ]]; then
      changed_modules="$changed_modules $module"
    fi
    echo "$image: ${after#sha256:}"
  done
}

load_images() {
  local invoice_image payment_image image registry
  invoice_image=$(image_of invoice-app)
  payment_image=$(image_of payment-provider)
  case "$image_load" in
    kind)
      kind load docker-image --name "${context#kind-}" "$invoice_image" "$payment_image"
      ;;
    minikube)
      for image in "$invoice_image" "$payment_image"; do
        minikube --profile "$context" image load "$image"
      done
      ;;
    k3d)
      k3d image import --cluster "${context#k3d-}" "$invoice_image" "$payment_image"
      ;;
    registry)
      registry=${IMAGE_REGISTRY%/}
      for image in "$invoice_image" "$payment_image"; do
        docker tag "$image" "$registry/$image"
        docker push "$registry/$image"
      done
      ;;
    none)
      echo "IMAGE_LOAD=none: the cluster is expected to see this Docker engine's images"
      ;;
    command)
      ${image_load_command[@]+"${image_load_command[@]}"} "$invoice_image" "$payment_image"
      ;;
  esac
}

# --- step: mesh config and workloads --------------------------------------------------------------

wait_for_rollouts() {
  local namespace workload workloads
  for namespace in "${APP_NAMESPACES[@]}"; do
    # StatefulSets (the databases) first: the services become ready only once they reach them.
    workloads=$(kc -n "$namespace" get statefulsets,deployments -o name)
    for workload in $workloads; do
      kc -n "$namespace" rollout status "$workload" --timeout="$WAIT_TIMEOUT"
    done
  done
}

apply_workloads() {
  local entry module namespace existing=""
  for entry in "${SERVICES[@]}"; do
    read -r module namespace _ <<<"$entry"
    if kc -n "$namespace" get deployment "$module" >/dev/null 2>&1; then
      existing="$existing $module"
    fi
  done
  # The mesh policies go in before the workloads, so no pod ever serves without them.
  kc apply -k "$ROOT/mesh"
  kc apply -k "$manifests_source"
  # Same tag, new image: running pods keep the old one until they are replaced.
  for entry in "${SERVICES[@]}"; do
    read -r module namespace _ <<<"$entry"
    if [[ "$changed_modules " == *" $module "* && "$existing " == *" $module "* ]]; then
      echo "image of $module changed: restarting its pods"
      kc -n "$namespace" rollout restart "deployment/$module"
    fi
  done
  wait_for_rollouts
}

# --- step: addons ---------------------------------------------------------------------------------

# The Istio release's addons deploy.sh installs, as one line of names.
addons() {
  if [[ "$with_addons" == false ]]; then
    echo ""
  elif [[ "$with_grafana" == true ]]; then
    echo "prometheus kiali grafana"
  else
    echo "prometheus kiali"
  fi
}

# Each addon manifest holds a Deployment of the addon's name in istio-system; grafana.yaml brings
# the release's Istio dashboards along as ConfigMaps. The istio-system namespace records the
# addons this script applied, for --delete.
install_addons() {
  local addon recorded
  recorded=$(istio_system_annotation "$ADDONS_ANNOTATION")
  for addon in $(addons); do
    [[ -f "$addons_dir/$addon.yaml" ]] || die "no $addon.yaml in $addons_dir"
    kc apply -f "$addons_dir/$addon.yaml"
    case " $recorded " in
      *" $addon "*) ;;
      *) recorded="${recorded:+$recorded }$addon" ;;
    esac
  done
  kc annotate --overwrite namespace istio-system "$ADDONS_ANNOTATION=$recorded" >/dev/null
  for addon in $(addons); do
    kc -n istio-system rollout status "deployment/$addon" --timeout="$WAIT_TIMEOUT"
  done
}

# --- summary --------------------------------------------------------------------------------------

print_summary() {
  local address url
  if [[ "$mode" == kind ]]; then
    url="http://localhost:$GATEWAY_PORT"
  else
    address=$(kc -n istio-system get service istio-ingressgateway \
      -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true)
    url=${address:+http://$address}
  fi
  echo
  if [[ "$with_addons" == true ]]; then
    echo "Deployed: Istio $ISTIO_VERSION, invoice-app and payment-provider $app_version, $(addons | sed 's/ /, /g')."
  else
    echo "Deployed: Istio $ISTIO_VERSION, invoice-app and payment-provider $app_version (no addons: --no-addons)."
  fi
  if [[ -n "$url" ]]; then
    echo "invoice-app answers through the gateway at $url/invoices"
    echo "  curl $url/invoices"
  else
    echo "The gateway has no external address here; reach it with"
    echo "  kubectl --context $context -n istio-system port-forward svc/istio-ingressgateway $GATEWAY_PORT:80"
    echo "and then http://localhost:$GATEWAY_PORT/invoices"
  fi
  echo "Check the flow and the isolation:"
  if [[ "$mode" == kind ]]; then
    echo "  ./test.sh"
  elif [[ -n "$url" ]]; then
    echo "  INVOICE_URL=$url ./test.sh --context $context"
  else
    echo "  ./test.sh --context $context    (it opens a port-forward to the gateway itself)"
  fi
  if [[ "$with_addons" == true ]]; then
    echo "Open Kiali (the graph shows the traffic of the last minutes, so run ./test.sh first; README.md says what to look at):"
    echo "  ${istioctl_path#"$ROOT"/} dashboard kiali --context $context"
    echo "  or: kubectl --context $context -n istio-system port-forward svc/kiali 20001:20001, then http://localhost:20001"
  fi
  if [[ "$with_grafana" == true ]]; then
    echo "Open Grafana (Istio's dashboards under Dashboards > istio):"
    echo "  ${istioctl_path#"$ROOT"/} dashboard grafana --context $context"
  fi
  if [[ -n "$network_policy_note" ]]; then
    echo
    echo "WARNING: $network_policy_note"
  fi
  if [[ "$mode" == kind ]]; then
    echo "Remove it all: ./deploy.sh --delete"
  else
    echo "Remove it all: ./deploy.sh --delete --context $context"
  fi
}

# --- delete ---------------------------------------------------------------------------------------

delete_from_context() {
  local addon addons_here istio_owner
  addons_here=$(istio_system_annotation "$ADDONS_ANNOTATION")
  istio_owner=$(istio_system_annotation "$ISTIO_OWNER_ANNOTATION")
  step "Removing the addons deploy.sh installed (${addons_here:-none})" "kubectl --context $context -n istio-system get all"
  for addon in $addons_here; do
    [[ -f "$addons_dir/$addon.yaml" ]] \
      || die "no $addon.yaml in $addons_dir: set ISTIO_ADDONS_DIR to the samples/addons folder of Istio $ISTIO_VERSION's release to remove $addon"
    kc delete --ignore-not-found -f "$addons_dir/$addon.yaml"
  done
  if [[ -n "$addons_here" ]]; then
    kc annotate namespace istio-system "$ADDONS_ANNOTATION-" >/dev/null
  fi

  step "Removing the mesh config and the application namespaces" \
    "kubectl --context $context get namespaces; kubectl --context $context -n invoice get all,pvc"
  kc delete namespace "$PROBE_NAMESPACE" --ignore-not-found
  if kc get crd authorizationpolicies.security.istio.io >/dev/null 2>&1; then
    kc delete --ignore-not-found -k "$ROOT/mesh"
  fi
  # Deleting the namespaces removes everything in them, the database volumes and Secrets included.
  kc delete --ignore-not-found --timeout="$WAIT_TIMEOUT" -k "$ROOT/manifests"

  step "Uninstalling Istio, if deploy.sh installed it" "kubectl --context $context -n istio-system get all; kubectl --context $context get crds | grep istio.io"
  if [[ "$istio_owner" == deploy.sh ]]; then
    istioctl_pinned uninstall --purge -y
    kc delete namespace istio-system --ignore-not-found --timeout="$WAIT_TIMEOUT"
  elif kc get namespace istio-system >/dev/null 2>&1 \
    || kc get crd authorizationpolicies.security.istio.io >/dev/null 2>&1; then
    echo "the Istio of this cluster was there before deploy.sh installed it (istio-system has no $ISTIO_OWNER_ANNOTATION annotation): left in place"
  else
    echo "no Istio found in this cluster"
  fi
}

main_delete() {
  if [[ "$mode" == kind ]]; then
    total_steps=2
    step "Checking prerequisites" ""
    check_prerequisites
    step "Deleting the kind cluster '$KIND_CLUSTER'" "kind get clusters; docker ps -a --filter label=io.x-k8s.kind.cluster=$KIND_CLUSTER"
    kind delete cluster --name "$KIND_CLUSTER"
    echo "The images paymesh/*:$app_version stay in Docker; remove them with:"
    echo "  docker image rm paymesh/invoice-app:$app_version paymesh/payment-provider:$app_version"
  else
    total_steps=5
    step "Checking prerequisites" ""
    check_prerequisites
    step "Preparing $(istioctl_source) (for the uninstall) and the addon manifests" \
      "curl -fsSLI https://github.com/istio/istio/releases/download/$ISTIO_VERSION/$(istio_archive_name)"
    prepare_istioctl
    delete_from_context
  fi
  echo
  echo "Removed."
}

main_deploy() {
  total_steps=9
  if [[ "$with_addons" == false ]]; then
    total_steps=8
  fi
  step "Checking prerequisites" ""
  check_prerequisites

  if [[ "$mode" == kind ]]; then
    step "Preparing the kind cluster '$KIND_CLUSTER' (Kubernetes from $KIND_NODE_IMAGE)" \
      "kind get clusters; docker ps --filter label=io.x-k8s.kind.cluster=$KIND_CLUSTER; kind export logs --name $KIND_CLUSTER"
  else
    step "Checking the cluster of context '$context'" \
      "kubectl config get-contexts; kubectl --context $context get nodes"
  fi
  prepare_cluster
  check_network_policy_enforcement

  step "Preparing $(istioctl_source)" \
    "curl -fsSLI https://github.com/istio/istio/releases/download/$ISTIO_VERSION/$(istio_archive_name)"
  prepare_istioctl

  step "Installing Istio $ISTIO_VERSION" \
    "kubectl --context $context -n istio-system get pods; kubectl --context $context -n istio-system describe pods; ${istioctl_path#"$ROOT"/} --context $context x precheck"
  install_istio

  step "Creating the namespaces and the database credentials" \
    "kubectl kustomize manifests/; kubectl --context $context get namespaces --show-labels; kubectl --context $context -n invoice get secrets"
  prepare_manifests_source
  create_namespaces_and_secrets

  step "Building the images paymesh/invoice-app and paymesh/payment-provider:$app_version" \
    "the docker build output above; docker build --build-arg SERVICE=invoice-app ."
  build_images

  step "Making the images available to the cluster ($image_load)" \
    "docker image ls paymesh/*; for kind: docker exec $KIND_CLUSTER-control-plane crictl images"
  load_images

  step "Applying the mesh config and the workloads, waiting for every rollout" \
    "kubectl --context $context get pods -n invoice -n payment; kubectl --context $context -n invoice describe pods; kubectl --context $context -n invoice logs deployment/invoice-app --all-containers; kubectl --context $context get events -A --sort-by=.lastTimestamp"
  apply_workloads

  if [[ "$with_addons" == true ]]; then
    step "Installing $(addons | sed 's/ /, /g') (Istio $ISTIO_VERSION samples/addons)" \
      "kubectl --context $context -n istio-system get pods; kubectl --context $context -n istio-system describe deployment $(addons)"
    install_addons
  fi

  print_summary
}

main() {
  parse_arguments "$@"
  cd "$ROOT"
  read_app_version
  if [[ "$action" == deploy ]]; then
    choose_image_load
    main_deploy
  else
    main_delete
  fi
}

main "$@"
