#!/usr/bin/env bash
# A real Kubernetes cluster, built here, given exactly what deploy.sh applies. See README.md.
#   checks/cluster/run.sh          build (cached), start etcd, kube-apiserver, kube-controller-manager
#                                  and kube-scheduler, check them; then a node (containerd, kubelet,
#                                  kube-proxy, CoreDNS, storage, NetworkPolicy) in a network namespace
#                                  of its own, run the workloads on it, check them by traffic; then
#                                  clear the cluster and run ./deploy.sh --context (Istio built
#                                  here), ./test.sh --context and ./deploy.sh --delete on it; stop
#                                  and remove everything; exit 1 on any failure
#   checks/cluster/run.sh --keep   the same, then keep the cluster running and print its KUBECONFIG
#                                  until Ctrl-C (or SIGTERM), which stops it and removes everything
# Prints one PASS/FAIL line per check and ends with `cluster: N passed, N failed`.
# Needs root, Go 1.26+, python3 with venv, openssl, Debian's containerd and runc, and the Go module
# proxy, PyPI, Maven Central and apt (first run only). Run it under /tmp/paymesh-net.lock.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
readonly HERE ROOT
readonly BIN="$ROOT/.tools/cluster/bin"
readonly KUBECTL_BINARY="$BIN/kubectl"
readonly PYTHON="$ROOT/.tools/venv/bin/python"
readonly ISTIOCTL="$ROOT/.tools/bin/istioctl"
readonly HELPER="$HERE/cluster_checks.py"
# The images `istioctl manifest generate` writes into the install, as in checks/offline.
readonly ISTIO_HUB=docker.io/istio
readonly SERVICE_CIDR=10.96.0.0/16
readonly SERVICE_IP=10.96.0.1
readonly START_TIMEOUT_SECONDS=90
readonly STOP_TIMEOUT_SECONDS=20
# The teams' namespaces (manifests/namespaces.yaml) and their groups (manifests/team-rbac.yaml).
readonly TEAM_NAMESPACES=(invoice payment)
# The label every object of manifests/ carries.
readonly PART_OF=app.kubernetes.io/part-of=paymesh
# shellcheck source=checks/counting.sh
source "$ROOT/checks/counting.sh"
# shellcheck source=checks/cluster/node.sh
source "$HERE/node.sh"
# shellcheck source=checks/cluster/istio/node-istio.sh
source "$HERE/istio/node-istio.sh"

keep=false
run_dir=""
pids=()
names=()
summary_printed=false
istio_version=""

log() { printf '\n==> %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# indent [PREFIX]: the lines of stdin, indented under the PASS/FAIL line they explain.
indent() { local prefix=${1:-} line; while IFS= read -r line; do printf '    %s%s\n' "$prefix" "$line"; done; }
# indented COMMAND...: runs it with its output indented; its exit status.
indented() { "$@" 2>&1 | indent; return "${PIPESTATUS[0]}"; }
kubectl() { "$KUBECTL_BINARY" --kubeconfig "$run_dir/admin.kubeconfig" "$@"; }

print_summary() {
  summary_printed=true
  printf 'cluster: %d passed, %d failed\n' "$passed" "$failed"
}

# SIGTERM, and SIGKILL for a process that has not exited after STOP_TIMEOUT_SECONDS.
stop_process() {
  local pid=$1 name=$2 waited=0
  kill "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && [[ "$waited" -lt "$STOP_TIMEOUT_SECONDS" ]]; do
    sleep 1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name did not stop within $STOP_TIMEOUT_SECONDS s of SIGTERM: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# The node first, then the control plane (the reverse of the start order: etcd goes last, once
# nothing talks to it any more), then what is left of the node: its network namespace and link
# (the API server listens on the link), mounts and cgroups.
stop_everything() {
  local index
  stop_node
  for ((index = ${#pids[@]} - 1; index >= 0; index--)); do
    stop_process "${pids[$index]}" "${names[$index]}"
  done
  remove_node_leftovers
}

stop_all() {
  local status=$? index
  trap - EXIT INT TERM
  # Everything is stopped and removed, whatever fails on the way.
  set +e
  if [[ "$summary_printed" != true ]]; then
    fail "the run stopped early (exit status $status): see the output above"
    print_summary
    status=1
  fi
  stop_everything
  if [[ -n "$run_dir" ]]; then
    rm -rf "$run_dir"
  fi
  exit "$status"
}

parse_arguments() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --keep) keep=true; shift ;;
      -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
      *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
  done
}

# ---- tools and versions -------------------------------------------------------------------------

pinned() { sed -n "s/^readonly $1=//p" "$2" | tr -d '"'; }

prepare_tools() {
  log "Tools: the control plane from checks/cluster/go.mod, istioctl and Python from checks/offline/install-tools.sh"
  check "build: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd from go.mod (GOTOOLCHAIN=local)" \
    "$HERE/build.sh" || return 1
  check "tools: istioctl and the Python venv of checks/offline/install-tools.sh" "$ROOT/checks/offline/install-tools.sh" || return 1
  check "build: Istio's pilot and proxyv2 images from source (checks/cluster/istio/build-images.sh; kept while built from the same inputs)" \
    build_istio_images || return 1
  [[ "$failed" -eq 0 ]]
}

# The control plane must be the Kubernetes of deploy.sh's kind node image, and the Istio CRDs those
# of the Istio release deploy.sh installs.
check_versions() {
  local kubernetes etcd node_image client server
  kubernetes=$(cd "$HERE" && GOTOOLCHAIN=local go list -m -f '{{.Version}}' k8s.io/kubernetes)
  etcd=$(cd "$HERE" && GOTOOLCHAIN=local go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
  node_image=$(pinned KIND_NODE_IMAGE "$ROOT/deploy.sh")
  istio_version=$(pinned ISTIO_VERSION "$ROOT/deploy.sh")
  [[ -n "$istio_version" ]] || { fail "deploy.sh pins no ISTIO_VERSION"; return 1; }
  check "versions: Kubernetes $kubernetes in go.mod is the version of deploy.sh's kind node image (${node_image%@*})" \
    test "${node_image%@*}" == "kindest/node:$kubernetes"
  client=$("$KUBECTL_BINARY" version --client -o json | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')
  check "versions: kubectl built from the same module reports $client" test "$client" == "$kubernetes"
  echo "etcd $etcd, Istio $istio_version (deploy.sh)"
}

# ---- certificates -------------------------------------------------------------------------------

# issue NAME SUBJECT EXTENSIONS: a key and a certificate signed by the run's CA, valid for a day.
issue() {
  local name=$1 subject=$2 extensions=$3 pki="$run_dir/pki"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 1 -out "$pki/$name.crt" -extfile <(printf '%s\n' "$extensions") 2>/dev/null
}

make_certificates() {
  local pki="$run_dir/pki" server_names
  mkdir -p "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=paymesh-check-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  server_names="subjectAltName=IP:$LINK_HOST_ADDRESS,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue etcd "/CN=etcd" "$(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth')"
  issue apiserver "/CN=kube-apiserver" "$(printf '%s\nextendedKeyUsage=serverAuth' "$server_names")"
  issue apiserver-etcd-client "/CN=kube-apiserver-etcd-client" "extendedKeyUsage=clientAuth"
  issue admin "/O=system:masters/CN=paymesh-check-admin" "extendedKeyUsage=clientAuth"
  issue controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  issue scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  # The node: the kubelet as the Node authorizer knows it, kube-proxy as the node-proxier
  # ClusterRoleBinding names it, and the API server's client certificate for the kubelets.
  issue kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "extendedKeyUsage=clientAuth"
  issue kube-proxy "/CN=system:kube-proxy" "extendedKeyUsage=clientAuth"
  issue kube-router "/CN=kube-router" "extendedKeyUsage=clientAuth"
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  # The key that signs ServiceAccount tokens.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/service-accounts.key" 2>/dev/null
  openssl pkey -in "$pki/service-accounts.key" -pubout -out "$pki/service-accounts.pub" 2>/dev/null
}

kubeconfig_for() {
  local name=$1 file="$run_dir/$1.kubeconfig"
  "$KUBECTL_BINARY" --kubeconfig "$file" config set-cluster paymesh-check --server "https://$LINK_HOST_ADDRESS:$api_port" \
    --certificate-authority "$run_dir/pki/ca.crt" --embed-certs >/dev/null
  "$KUBECTL_BINARY" --kubeconfig "$file" config set-credentials "$name" --client-certificate "$run_dir/pki/$name.crt" \
    --client-key "$run_dir/pki/$name.key" --embed-certs >/dev/null
  "$KUBECTL_BINARY" --kubeconfig "$file" config set-context paymesh-check --cluster paymesh-check --user "$name" >/dev/null
  "$KUBECTL_BINARY" --kubeconfig "$file" config use-context paymesh-check >/dev/null
}

# ---- processes ----------------------------------------------------------------------------------

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local name=$1
  shift
  "$@" >"$run_dir/logs/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
}

# Fails when a started process has exited, printing the end of its log.
all_running() {
  local index
  for index in "${!pids[@]}"; do
    if ! kill -0 "${pids[$index]}" 2>/dev/null; then
      echo "${names[$index]} exited; the end of its log:"
      tail -n 30 "$run_dir/logs/${names[$index]}.log" | indent
      return 1
    fi
  done
}

# wait_for WHAT SECONDS PAUSE COMMAND...: until COMMAND succeeds, while every process still runs.
wait_for() {
  local what=$1 seconds=$2 pause=$3
  local deadline=$((SECONDS + seconds))
  shift 3
  until "$@" >/dev/null 2>&1; do
    all_running || return 1
    if [[ "$SECONDS" -ge "$deadline" ]]; then
      echo "$what: not within $seconds s"
      return 1
    fi
    sleep "$pause"
  done
}

wait_until() {
  local what=$1
  shift
  wait_for "$what" "$START_TIMEOUT_SECONDS" 1 "$@"
}

lease_held() { [[ -n "$(kubectl -n kube-system get lease "$1" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" ]]; }

start_control_plane() {
  local pki="$run_dir/pki" etcd_port peer_port started=$SECONDS
  log "Control plane on $LINK_HOST_ADDRESS (the host end of the node's link) and 127.0.0.1, certificates made now ($run_dir)"
  mkdir -p "$run_dir/logs" "$run_dir/etcd"
  make_certificates
  etcd_port=$(free_port)
  peer_port=$(free_port)
  api_port=$(free_port)
  start etcd "$BIN/etcd" --data-dir "$run_dir/etcd" \
    --client-url "https://127.0.0.1:$etcd_port" --peer-url "http://127.0.0.1:$peer_port" \
    --cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" --trusted-ca-file "$pki/ca.crt"
  # The flags kubeadm 1.36 gives a control-plane node, less the kubelet, the front proxy and what
  # needs a node; admission plugins are the defaults plus NodeRestriction, PodSecurity included.
  start kube-apiserver "$BIN/kube-apiserver" \
    --bind-address "$LINK_HOST_ADDRESS" --advertise-address "$LINK_HOST_ADDRESS" --secure-port "$api_port" \
    --etcd-servers "https://127.0.0.1:$etcd_port" --etcd-cafile "$pki/ca.crt" \
    --etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --allow-privileged=true --service-cluster-ip-range "$SERVICE_CIDR" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/service-accounts.pub" \
    --service-account-signing-key-file "$pki/service-accounts.key"
  kubeconfig_for admin
  kubeconfig_for controller-manager
  kubeconfig_for scheduler
  kubeconfig_for kubelet
  kubeconfig_for kube-proxy
  kubeconfig_for kube-router
  if ! wait_until "kube-apiserver /readyz" kubectl get --raw /readyz; then
    fail "kube-apiserver answers /readyz on $LINK_HOST_ADDRESS:$api_port"
    return 1
  fi
  pass "etcd and kube-apiserver ready on $LINK_HOST_ADDRESS:$api_port in $((SECONDS - started)) s"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$run_dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$run_dir/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$run_dir/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(free_port)" \
    --use-service-account-credentials=true --controllers '*,bootstrapsigner,tokencleaner' \
    --service-account-private-key-file "$pki/service-accounts.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --allocate-node-cidrs --cluster-cidr "$CLUSTER_CIDR" --service-cluster-ip-range "$SERVICE_CIDR"
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$run_dir/scheduler.kubeconfig" \
    --authentication-kubeconfig "$run_dir/scheduler.kubeconfig" \
    --authorization-kubeconfig "$run_dir/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(free_port)"
  # Each takes its leader lease once it works against the API server.
  check "kube-controller-manager runs and holds its leader lease" wait_until "controller-manager lease" lease_held kube-controller-manager
  check "kube-scheduler runs and holds its leader lease" wait_until "scheduler lease" lease_held kube-scheduler
  local server
  server=$(kubectl version -o json | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
  check "the API server reports Kubernetes $server, the version built" test "$server" == "$(cd "$HERE" && GOTOOLCHAIN=local go list -m -f '{{.Version}}' k8s.io/kubernetes)"
}

# ---- what deploy.sh applies ---------------------------------------------------------------------

istio_crds() {
  local api_dir
  api_dir=$(cd "$ROOT/.tools" && GOTOOLCHAIN=local go mod download -json "istio.io/api@v$istio_version" \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  echo "$api_dir/kubernetes/customresourcedefinitions.gen.yaml"
}

create_database_secret() {
  local namespace=$1 name=$2 user=$3
  # As deploy.sh does it: the password goes from openssl to kubectl through a pipe.
  openssl rand -hex 24 | tr -d '\n' \
    | kubectl -n "$namespace" create secret generic "$name" --from-literal=username="$user" --from-file=password=/dev/stdin
}

apply_namespaces() { "$PYTHON" "$HELPER" namespaces "$run_dir/rendered/manifests.yaml" | kubectl apply -f -; }

nothing_to_change() { kubectl diff -k "$ROOT/mesh" && kubectl diff -k "$ROOT/manifests"; }

apply_as_deploy_does() {
  local crds entry services=() module namespace secret user
  log "Apply what deploy.sh applies, in its order"
  mkdir -p "$run_dir/rendered"
  # istioctl install puts Istio's CRDs and the istio-system namespace in first; here the CRDs are
  # those the Istio release is built from (istio.io/api at the same version).
  crds=$(istio_crds)
  check "Istio $istio_version CRDs (istio.io/api kubernetes/customresourcedefinitions.gen.yaml) accepted, server-side apply" \
    indented kubectl apply --server-side -f "$crds"
  check "Istio CRDs established" indented kubectl wait --for condition=Established --timeout 60s -f "$crds"
  check "namespace istio-system created" indented kubectl create namespace istio-system
  kubectl kustomize "$ROOT/manifests" >"$run_dir/rendered/manifests.yaml"
  kubectl kustomize "$ROOT/mesh" >"$run_dir/rendered/mesh.yaml"
  check "the Namespaces of manifests/ applied first" indented apply_namespaces
  # deploy.sh's SERVICES list: module, namespace, database Secret, database user.
  mapfile -t services < <(sed -n '/^readonly SERVICES=($/,/^)$/ s/^ *"\(.*\)"$/\1/p' "$ROOT/deploy.sh")
  check "deploy.sh lists the database Secrets it creates (${#services[@]})" test "${#services[@]}" -gt 0
  for entry in "${services[@]}"; do
    read -r module namespace secret user <<<"$entry"
    check "Secret $namespace/$secret (user $user, for $module) created as deploy.sh creates it" \
      indented create_database_secret "$namespace" "$secret" "$user"
  done
  check "kubectl apply -k mesh/: every object accepted" indented kubectl apply -k "$ROOT/mesh"
  check "kubectl apply -k manifests/: every object accepted" indented kubectl apply -k "$ROOT/manifests"
  check "every object of the render is on the server ($(grep -c '^kind: ' "$run_dir/rendered/manifests.yaml") in manifests/, $(grep -c '^kind: ' "$run_dir/rendered/mesh.yaml") in mesh/)" \
    indented kubectl get -f "$run_dir/rendered/manifests.yaml" -f "$run_dir/rendered/mesh.yaml" -o name
  # deploy.sh promises that a second run changes nothing: the server's defaulted objects must
  # already be what the sources say.
  check "kubectl diff -k mesh/ and manifests/: applying again would change nothing" indented nothing_to_change
  apply_addons
}

# deploy.sh's last step applies samples/addons/{prometheus,kiali}.yaml of the Istio release
# archive, which cannot be downloaded here; the same files come from the istio.io/istio commit
# checks/offline/install-tools.sh builds istioctl from (a commit of Istio's 1.31 release line).
apply_addons() {
  local module version dir addon
  module=$(pinned ISTIOCTL_MODULE "$ROOT/checks/offline/install-tools.sh")
  version=${module##*@}
  dir=$(cd "$ROOT/.tools" && GOTOOLCHAIN=local go mod download -json "istio.io/istio@$version" \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')/samples/addons
  for addon in prometheus kiali; do
    check "kubectl apply -f samples/addons/$addon.yaml (istio.io/istio $version): every object accepted" \
      indented kubectl apply -f "$dir/$addon.yaml"
  done
}

# ---- refusals -----------------------------------------------------------------------------------

refused_as_expected() {
  local file=$1 expected=$2 output
  if output=$(kubectl apply --dry-run=server -f "$file" 2>&1); then
    echo "    accepted: $output"
    return 1
  fi
  if ! grep -Eq -- "$expected" <<<"$output"; then
    echo "    refused, but not for the expected reason /$expected/:"
    indent "  " <<<"$output"
    return 1
  fi
  grep -Eo -- "$expected" <<<"$output" | head -n 1 | indent "server: "
}

check_refusals() {
  local dir="$run_dir/refusals" file expected what
  log "Broken copies of real objects: the API server must refuse each, for its reason"
  "$PYTHON" "$HELPER" refusals "$run_dir/rendered/manifests.yaml" "$run_dir/rendered/mesh.yaml" "$dir" \
    || { fail "broken objects could not be made from the render"; return; }
  while IFS=$'\t' read -r file expected what; do
    check "refused: $what" refused_as_expected "$dir/$file" "$expected"
  done <"$dir/index.tsv"
}

# ---- Pod Security -------------------------------------------------------------------------------

namespace_label() { kubectl get namespace "$1" -o jsonpath="{.metadata.labels.pod-security\.kubernetes\.io/$2}"; }

# The pods istiod's webhook would make: `istioctl kube-inject` with the injector configuration of
# mesh/istio-install.yaml, as checks/offline does.
injected_pods() {
  local dir="$run_dir/inject"
  mkdir -p "$dir"
  "$ISTIOCTL" manifest generate -f "$ROOT/mesh/istio-install.yaml" --set "hub=$ISTIO_HUB" \
    --set "tag=$istio_version" >"$dir/install.yaml" || return
  "$PYTHON" "$ROOT/checks/offline/cluster_view.py" injector-config "$dir/install.yaml" "$dir/injector" || return
  "$ISTIOCTL" kube-inject --revision default --injectConfigFile "$dir/injector/config" \
    --valuesFile "$dir/injector/values.json" --meshConfigFile "$dir/injector/mesh.yaml" \
    -f "$run_dir/rendered/manifests.yaml" >"$dir/manifests.injected.yaml" || return
  "$PYTHON" "$HELPER" pods "$dir/manifests.injected.yaml" "$dir/pods"
}

container_names() {
  "$PYTHON" -c 'import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))["spec"]
print("init " + ", ".join(c["name"] for c in spec.get("initContainers") or []) + "; " + ", ".join(c["name"] for c in spec["containers"]))' "$1"
}

admitted() {
  local output
  if ! output=$(kubectl create --dry-run=server -f "$1" 2>&1); then
    indent <<<"$output"
    return 1
  fi
  # The namespace's warn level speaks here: what a stricter level would refuse.
  grep -i 'warning' <<<"$output" | indent || true
}

refused_by_pod_security() {
  local output
  if output=$(kubectl create --dry-run=server -f "$1" 2>&1); then
    echo "    admitted: $output"
    return 1
  fi
  grep -q "violates PodSecurity \"$2:" <<<"$output" || { indent <<<"$output"; return 1; }
  cut -c1-220 <<<"$output" | indent "server: "
}

# The pod, moved to another namespace.
in_namespace() { sed "s/^  namespace: .*/  namespace: $2/" "$1"; }

# admitted_at LEVEL: every injected pod passes a namespace that enforces LEVEL. The namespace holds
# the pods' ServiceAccounts, since the ServiceAccount admission looks them up before Pod Security.
admitted_at() {
  local level=$1 namespace="podsecurity-$1" file account accounts output status=0
  kubectl create namespace "$namespace" >/dev/null
  kubectl label namespace "$namespace" "pod-security.kubernetes.io/enforce=$level" >/dev/null
  mapfile -t accounts < <(sed -n 's/^  serviceAccountName: //p' "$run_dir"/inject/pods/*.yaml | sort -u)
  for account in "${accounts[@]}"; do
    kubectl -n "$namespace" create serviceaccount "$account" >/dev/null
  done
  for file in "$run_dir"/inject/pods/*.yaml; do
    if ! output=$(in_namespace "$file" "$namespace" | kubectl create --dry-run=server -f - 2>&1); then
      echo "    $level refuses $(basename "$file" .yaml): $(grep -o 'violates PodSecurity.*' <<<"$output" || head -n 1 <<<"$output")" | cut -c1-300
      status=1
    fi
  done
  return "$status"
}

check_pod_security() {
  local namespace enforce file level what pod strictest=""
  log "Pod Security admission on the team namespaces, with the pods sidecar injection makes"
  if ! injected_pods; then
    fail "istioctl kube-inject of the rendered manifests"
    return
  fi
  for level in restricted baseline privileged; do
    if admitted_at "$level"; then
      strictest=$level
      break
    fi
  done
  for namespace in "${TEAM_NAMESPACES[@]}"; do
    enforce=$(namespace_label "$namespace" enforce)
    check "namespace $namespace enforces '$enforce' (warn '$(namespace_label "$namespace" warn)', audit '$(namespace_label "$namespace" audit)'), the strictest level every injected pod passes ('${strictest:-none}')" \
      test -n "$strictest" -a "$enforce" == "$strictest"
  done
  for file in "$run_dir"/inject/pods/*.yaml; do
    pod=$(basename "$file" .yaml)
    check "admitted in namespace ${pod%%.*}: the injected pod of ${pod#*.} ($(container_names "$file"))" admitted "$file"
  done
  "$PYTHON" "$HELPER" violations "$run_dir/inject/pods/invoice.invoice-app.yaml" "$run_dir/violations" \
    || { fail "violating pods could not be made"; return; }
  enforce=$(namespace_label invoice enforce)
  while IFS=$'\t' read -r file level what; do
    if [[ "$enforce" == restricted || "$enforce" == "$level" ]]; then
      check "refused in namespace invoice: the injected invoice-app pod with $what (violates $enforce)" \
        refused_by_pod_security "$run_dir/violations/$file" "$enforce"
    else
      check "warned in namespace invoice, refused where $level is enforced: the injected invoice-app pod with $what" \
        warned_and_refused_at "$run_dir/violations/$file" "$level" "$(namespace_label invoice warn)"
    fi
  done <"$run_dir/violations/index.tsv"
  kubectl delete namespace podsecurity-restricted podsecurity-baseline podsecurity-privileged \
    --ignore-not-found --wait=false >/dev/null
}

# A pod the team namespace admits (its enforce level allows it) but warns about, and that a
# namespace enforcing LEVEL refuses.
warned_and_refused_at() {
  local file=$1 level=$2 warn=$3 output
  output=$(kubectl create --dry-run=server -f "$file" 2>&1) || { indent <<<"$output"; return 1; }
  grep -q "would violate PodSecurity \"$warn:" <<<"$output" || { echo "    no $warn warning: $output"; return 1; }
  grep -o 'would violate PodSecurity.*' <<<"$output" | cut -c1-200 | indent "server: "
  in_namespace "$file" "podsecurity-$level" >"$file.$level"
  refused_by_pod_security "$file.$level" "$level"
}

# ---- team RBAC ----------------------------------------------------------------------------------

# What docs/part3-production.md section 2 promises each team, in its own namespace.
readonly TEAM_ALLOWED=(
  "get deployments.apps" "patch deployments.apps" "update deployments.apps --subresource=scale"
  "patch statefulsets.apps" "update statefulsets.apps --subresource=scale"
  "list pods" "get pods --subresource=log" "list events" "create pods --subresource=portforward" "delete pods"
  "get virtualservices.networking.istio.io" "patch virtualservices.networking.istio.io"
  "get destinationrules.networking.istio.io" "patch destinationrules.networking.istio.io"
  "get authorizationpolicies.security.istio.io" "get peerauthentications.security.istio.io"
  "get sidecars.networking.istio.io" "get networkpolicies.networking.k8s.io"
  "get poddisruptionbudgets.policy" "patch poddisruptionbudgets.policy"
)
readonly TEAM_DENIED=(
  "patch authorizationpolicies.security.istio.io" "create authorizationpolicies.security.istio.io"
  "delete authorizationpolicies.security.istio.io" "patch peerauthentications.security.istio.io"
  "create peerauthentications.security.istio.io" "patch sidecars.networking.istio.io"
  "patch networkpolicies.networking.k8s.io" "delete networkpolicies.networking.k8s.io"
  "get secrets" "list secrets"
  "create pods --subresource=exec" "create pods --subresource=attach" "patch pods --subresource=ephemeralcontainers"
  "create pods" "create rolebindings.rbac.authorization.k8s.io" "patch roles.rbac.authorization.k8s.io"
  "patch serviceaccounts" "create serviceaccounts --subresource=token"
)
readonly OTHER_NAMESPACE_DENIED=(
  "list pods" "get pods --subresource=log" "patch deployments.apps" "create pods --subresource=portforward"
  "delete pods" "get virtualservices.networking.istio.io" "list events"
)

# can_i TEAM NAMESPACE yes|no VERB RESOURCE [FLAGS]: kubectl auth can-i as a member of the team's group.
can_i() {
  local team=$1 namespace=$2 expected=$3 answer
  shift 3
  answer=$(kubectl auth can-i "$@" -n "$namespace" --as "someone-of-$team" --as-group "$team" 2>/dev/null || true)
  [[ "$answer" == "$expected" ]] || { echo "    kubectl auth can-i $* -n $namespace --as-group $team: $answer"; return 1; }
}

rbac_rows() {
  local team=$1 namespace=$2 expected=$3 failures=0 row
  shift 3
  for row in "$@"; do
    # shellcheck disable=SC2086 # a row is a verb, a resource and its flags
    can_i "$team" "$namespace" "$expected" $row || failures=$((failures + 1))
  done
  [[ "$failures" -eq 0 ]]
}

cluster_wide_denied() {
  can_i "$1" default no list namespaces && can_i "$1" default no list nodes \
    && can_i "$1" istio-system no patch peerauthentications.security.istio.io
}

check_team_rbac() {
  local team other
  log "Team RBAC: kubectl auth can-i --as, answered by the API server's RBAC authorizer"
  for team in "${TEAM_NAMESPACES[@]}"; do
    other=$([[ "$team" == invoice ]] && echo payment || echo invoice)
    check "$team-team in $team may: roll out, scale, restart, read pods, logs and events, port-forward, delete pods, tune VirtualServices/DestinationRules/PDBs, read the mesh policies (${#TEAM_ALLOWED[@]} rows)" \
      rbac_rows "$team-team" "$team" yes "${TEAM_ALLOWED[@]}"
    check "$team-team in $team may not: change AuthorizationPolicies, PeerAuthentications, Sidecars, NetworkPolicies, read Secrets, exec, attach, add debug containers, create pods or grant itself rights (${#TEAM_DENIED[@]} rows)" \
      rbac_rows "$team-team" "$team" no "${TEAM_DENIED[@]}"
    check "$team-team in $other may do nothing (${#OTHER_NAMESPACE_DENIED[@]} rows)" \
      rbac_rows "$team-team" "$other" no "${OTHER_NAMESPACE_DENIED[@]}"
    check "$team-team may not list namespaces or nodes, nor change the mesh-wide PeerAuthentication in istio-system" \
      cluster_wide_denied "$team-team"
  done
}

# ---- controllers --------------------------------------------------------------------------------

pods_made() {
  local count
  count=$(kubectl get pods -A -l "$PART_OF" -o name 2>/dev/null | grep -c . || true)
  [[ "$count" -ge "$1" ]]
}

check_controllers() {
  local expected unscheduled claims
  log "The controllers turn the Deployments and StatefulSets into pods; the scheduler finds no node"
  expected=$("$PYTHON" -c '
import sys, yaml
total = 0
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        total += d["spec"].get("replicas", 1)
    elif d and d["kind"] == "StatefulSet":
        total += 1
print(total)' "$run_dir/rendered/manifests.yaml")
  if ! wait_until "$expected pods" pods_made "$expected"; then
    fail "the controllers made $expected pods within $START_TIMEOUT_SECONDS s"
    kubectl get events -A --sort-by=.lastTimestamp | tail -n 20 | indent
    return
  fi
  # Compare once the pods stop changing: give the controllers a moment after the count is reached.
  sleep 2
  kubectl get pods,replicasets -A -o json >"$run_dir/cluster.json"
  local line
  while IFS= read -r line; do
    case "$line" in
      PASS:*) pass "${line#PASS: }" ;;
      FAIL:*) fail "${line#FAIL: }" ;;
      *) echo "$line" ;;
    esac
  done < <("$PYTHON" "$HELPER" compare-pods "$run_dir/rendered/manifests.yaml" "$run_dir/cluster.json" 2>&1 \
    || echo "FAIL: the pods could not be compared with the rendered templates")
  claims=$(kubectl get pvc -A -l "$PART_OF" -o name | grep -c . || true)
  check "the StatefulSet controller made a PersistentVolumeClaim per database pod ($claims)" test "$claims" -ge 2
  unscheduled=$(kubectl get pods -A -l "$PART_OF" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="PodScheduled")].reason}{"\n"}{end}' | grep -c '^Unschedulable$' || true)
  check "the scheduler tried every pod and found no node for it ($unscheduled of $expected Unschedulable; a node is stage 2)" \
    test "$unscheduled" -eq "$expected"
}

# ---- main ---------------------------------------------------------------------------------------

keep_running() {
  echo
  echo "The cluster keeps running until Ctrl-C. In another shell:"
  echo "  export KUBECONFIG=$run_dir/admin.kubeconfig"
  echo "  $KUBECTL_BINARY get pods -A"
  echo "Stop it with Ctrl-C here (or: kill $$); everything in $run_dir is then removed."
  echo "The node's network namespace: nsenter --net=/run/netns/$NODE_NETNS (from the host, pods answer by IP where no NetworkPolicy closes them)."
  while all_running >/dev/null; do sleep 5; done
  echo "a process of the cluster exited; stopping"
}

# The node, the workloads on it, and traffic through both.
run_node() {
  apply_node_addons
  apply_local_postgres
  start_node || return 0
  check_addons_running
  check_workloads_ready
  check_storage
  check_services || return 0
  check_flow
  check_network_policies
  check "the manifests' digest-pinned PostgreSQL is not satisfied by a local image under its name and tag: the kubelet tries to pull it (ErrImagePull), so this node runs the overlay's local image instead" \
    check_digest_pin
}

# The teardown of the node, then a look that nothing of it is left on the host.
stop_and_look() {
  log "Teardown: the node's containers, containerd, the control plane, mounts, network namespace, cgroups"
  stop_everything
  check "nothing of the node left: network namespace, veth, routes, mounts, cgroups, CNI results, shims, host iptables rules" \
    node_leftovers
}

main() {
  parse_arguments "$@"
  local started=$SECONDS
  trap stop_all EXIT
  trap 'exit 130' INT TERM
  cd "$ROOT"
  if [[ "$(id -u)" -ne 0 ]]; then
    fail "run as root: the node needs network namespaces, mounts and cgroups"
    print_summary
    return 1
  fi
  if ! prepare_tools; then
    print_summary
    return 1
  fi
  take_node_lock
  remove_node_leftovers
  run_dir=$(mktemp -d /tmp/paymesh-cluster.XXXXXX)
  check_versions
  create_node_network
  if start_control_plane; then
    apply_as_deploy_does
    check_refusals
    check_pod_security
    check_team_rbac
    check_controllers
    run_node
    if node_ready; then
      run_istio
    fi
  fi
  if [[ "$keep" == true && -n "$run_dir" ]]; then
    print_summary
    keep_running
  fi
  stop_and_look
  echo "cluster stage took $((SECONDS - started)) s"
  print_summary
  [[ "$failed" -eq 0 ]]
}

main "$@"
