# shellcheck shell=bash
# Sourced by run.sh: the node of the cluster. Its network namespace and link, containerd, the
# kubelet, kube-proxy, the images imported instead of pulled, the add-ons (CoreDNS, the local-path
# provisioner, the NetworkPolicy enforcer), and a teardown that leaves nothing behind. Uses
# run.sh's helpers (check, pass, fail, start, wait_until, kubectl, run_dir, BIN, ROOT, PYTHON).
# shellcheck disable=SC2154 # run_dir, pids and names are run.sh's

readonly NODE_NAME=paymesh-node
readonly NODE_NETNS=paymesh-node
# The node's link to the host: a veth pair. The host end carries the API server's address; the
# other end, eth0 in the node's namespace, is the node's InternalIP.
readonly LINK_HOST=pmnode-host
readonly LINK_PEER=pmnode-peer
readonly LINK_HOST_ADDRESS=10.231.78.1
readonly NODE_IP=10.231.78.2
readonly CLUSTER_CIDR=10.244.0.0/16
readonly CLUSTER_DNS=10.96.0.10
# The CNI network's name; the CNI library keeps its results under /var/lib/cni/results/NAME-*.
readonly CNI_NETWORK=paymesh-node
readonly CNI_RESULTS=/var/lib/cni/results
# The kubelet's cgroup root, made in every cgroup v1 hierarchy and removed at the end.
readonly CGROUP_ROOT=paymesh-node
# Kernel settings the kubelet sets when they differ from what it wants; put back at the end.
readonly KUBELET_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
readonly CNI_BIN="$ROOT/.tools/cluster/cni"
readonly NODE_LOCK_FILE=/run/paymesh-cluster-node.lock
# The images built here from static binaries, by the name the manifests of node/ use.
readonly PAUSE_IMAGE=docker.io/paymesh-local/pause:1
readonly COREDNS_IMAGE=docker.io/paymesh-local/coredns:v1.14.2
readonly LOCAL_PATH_IMAGE=docker.io/paymesh-local/local-path-provisioner:v0.0.30
# Debian's ipset, which kube-router's NetworkPolicy controller runs.
readonly IPSET_PACKAGE=ipset=7.17-1
readonly PROBE_NAMESPACE=paymesh-node-probe
readonly NODE_WAIT_SECONDS=600

saved_sysctls=()
node_started=false
# The pod sandboxes containerd made, for their CNI results in the host's /var/lib/cni.
sandbox_ids=()
# The host's KUBE- iptables rules before the run (another kubelet on the machine may own some).
host_kube_rules_before=""

in_node() { nsenter --net="/run/netns/$NODE_NETNS" "$@"; }
# start_in_node NAME COMMAND...: run.sh's start, in the node's namespace; nsenter execs the
# command, so the process id run.sh keeps is the command's own.
start_in_node() { local name=$1; shift; start "$name" nsenter --net="/run/netns/$NODE_NETNS" "$@"; }
ctr_node() { ctr --address "$run_dir/containerd/containerd.sock" --namespace k8s.io "$@"; }

take_node_lock() {
  exec 8>"$NODE_LOCK_FILE"
  if ! flock -n 8; then
    echo "another cluster run holds $NODE_LOCK_FILE; waiting for it"
    flock -w 3600 8 || { echo "run.sh: $NODE_LOCK_FILE still held" >&2; return 1; }
  fi
}

# ---- the node's network ---------------------------------------------------------------------------

# Before the control plane: the API server listens on the host end of the node's link.
create_node_network() {
  log "The node's network namespace $NODE_NETNS: $LINK_HOST ($LINK_HOST_ADDRESS) <-> eth0 ($NODE_IP)"
  ip netns add "$NODE_NETNS"
  ip link add "$LINK_HOST" type veth peer name "$LINK_PEER"
  ip link set "$LINK_PEER" netns "$NODE_NETNS"
  ip -n "$NODE_NETNS" link set "$LINK_PEER" name eth0
  ip addr add "$LINK_HOST_ADDRESS/30" dev "$LINK_HOST"
  ip link set "$LINK_HOST" up
  ip -n "$NODE_NETNS" addr add "$NODE_IP/30" dev eth0
  ip -n "$NODE_NETNS" link set lo up
  ip -n "$NODE_NETNS" link set eth0 up
  # The host reaches pods and Services (the API server calls webhooks in pods) through the node.
  ip route add "$CLUSTER_CIDR" via "$NODE_IP" dev "$LINK_HOST"
  ip route add "$SERVICE_CIDR" via "$NODE_IP" dev "$LINK_HOST"
  # Inside the node: route between eth0 and the pods' bridge, and let iptables see bridged
  # traffic (kube-proxy's rules for a pod reaching a Service backed by a pod on the same bridge).
  in_node sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # The node's own processes (the enforcer, on the node's network) reach Services: a route for
  # the Service network that kube-proxy's DNAT rewrites. No default route: nothing leaves the host.
  ip -n "$NODE_NETNS" route add "$SERVICE_CIDR" via "$LINK_HOST_ADDRESS" dev eth0
}

# Everything a run makes outside its folder, removed. Safe on a half-made state, at the start
# (what a killed run left: the lock says none is running) and at the end.
remove_node_leftovers() {
  # A teardown goes on past what fails (set -e is restored when the function returns).
  local - mount hierarchy
  set +e
  ip netns list 2>/dev/null | grep -qw "^$NODE_NETNS" && ip netns delete "$NODE_NETNS"
  ip link show "$LINK_HOST" >/dev/null 2>&1 && ip link delete "$LINK_HOST"
  while read -r mount; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null
  done < <(grep -o " /tmp/paymesh-cluster\.[^ ]*" /proc/self/mounts | sort -r)
  # The results of every sandbox on our network, including those of sandboxes the kubelet was
  # still tearing down when it stopped (containerd no longer lists them). The network's name is
  # ours alone, and a sandbox's loopback result carries the same id.
  local id result
  for result in "$CNI_RESULTS/$CNI_NETWORK"-*-eth0; do
    [[ -e "$result" ]] || continue
    id=${result#"$CNI_RESULTS/$CNI_NETWORK"-}
    sandbox_ids+=("${id%-eth0}")
  done
  for id in ${sandbox_ids[@]+"${sandbox_ids[@]}"}; do
    rm -f "$CNI_RESULTS/$CNI_NETWORK-$id-eth0" "$CNI_RESULTS/cni-loopback-$id-lo"
  done
  rm -f "$CNI_RESULTS/$CNI_NETWORK"-*
  sandbox_ids=()
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -d "$hierarchy$CGROUP_ROOT" ]] || continue
    find "$hierarchy$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# The cgroup v1 hierarchies (this host has no cgroup v2 for the kubelet): the kubelet's root in each.
make_cgroup_root() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -f "${hierarchy}cgroup.procs" && "$hierarchy" != */unified/ ]] || continue
    mkdir -p "$hierarchy$CGROUP_ROOT"
    if [[ -f "${hierarchy}cpuset.cpus" ]]; then
      cat "${hierarchy}cpuset.cpus" >"$hierarchy$CGROUP_ROOT/cpuset.cpus"
      cat "${hierarchy}cpuset.mems" >"$hierarchy$CGROUP_ROOT/cpuset.mems"
    fi
  done
}

save_sysctls() {
  local name
  saved_sysctls=()
  for name in "${KUBELET_SYSCTLS[@]}"; do
    saved_sysctls+=("$name=$(sysctl -n "$name")")
  done
}

restore_sysctls() {
  [[ ${#saved_sysctls[@]} -gt 0 ]] || return 0
  sysctl -qw "${saved_sysctls[@]}"
  saved_sysctls=()
}

# ---- images ---------------------------------------------------------------------------------------

# The pods stage's images (the services from the real Dockerfile, PostgreSQL, the Debian base)
# as one `docker save` archive, and the images of the node's own binaries.
make_node_images() {
  local dir="$run_dir/images"
  mkdir -p "$dir"
  counted "$ROOT/checks/pods/run.sh" --save-images "$dir/pods-images.tar"
  "$PYTHON" "$HERE/oci_image.py" "$dir/pause.tar" "$PAUSE_IMAGE" /pause "$BIN/pause=/pause" >/dev/null \
    && "$PYTHON" "$HERE/oci_image.py" "$dir/coredns.tar" "$COREDNS_IMAGE" /coredns "$BIN/coredns=/coredns" >/dev/null \
    && "$PYTHON" "$HERE/oci_image.py" "$dir/local-path-provisioner.tar" "$LOCAL_PATH_IMAGE" \
      /local-path-provisioner "$BIN/local-path-provisioner=/local-path-provisioner" >/dev/null
}

import_images() {
  local archive
  for archive in "$run_dir"/images/*.tar; do
    ctr_node images import "$archive" >/dev/null || { echo "ctr images import $archive failed"; return 1; }
  done
  ctr_node images ls -q | grep -v '^sha256:' | indent
}

# ---- containerd, the kubelet, kube-proxy ----------------------------------------------------------

write_containerd_config() {
  local dir="$run_dir/containerd"
  mkdir -p "$dir/root" "$dir/state" "$run_dir/cni/net.d" "$run_dir/cni/ipam"
  cat >"$dir/config.toml" <<EOF
# containerd of the paymesh check node: its own root, state and socket; nothing under /var/lib or /run.
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "$dir/containerd.sock"

[ttrpc]
  address = "$dir/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM refuses to lower a process's oom_score_adj below its parent's.
  restrict_oom_score_adj = true
  # The pods' network namespaces under the state folder, not in the host's /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$run_dir/cni/net.d"
EOF
}

write_kubelet_config() {
  cat >"$run_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has only cgroup v1, which the kubelet refuses unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
containerRuntimeEndpoint: unix://$run_dir/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $run_dir/pki/ca.crt}
authorization: {mode: Webhook}
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
resolvConf: $run_dir/node-resolv.conf
podLogsDir: $run_dir/pod-logs
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
failSwapOn: false
rotateCertificates: false
serverTLSBootstrap: false
# A machine shared with other work: no evictions for its disk or memory use.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
EOF
  # The node resolves nothing outside the cluster: there is nothing outside to reach.
  printf '# the paymesh check node has no upstream DNS\n' >"$run_dir/node-resolv.conf"
}

write_kube_proxy_config() {
  cat >"$run_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $run_dir/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $CLUSTER_CIDR
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# The conntrack table is the whole machine's: leave its size and timeouts as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# The bridge network, once the controller-manager has given the node its pod CIDR (as kindnet
# writes it on a kind node).
write_cni_config() {
  local pod_cidr=$1
  cat >"$run_dir/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$run_dir/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

node_pod_cidr() { kubectl get node "$NODE_NAME" -o jsonpath='{.spec.podCIDR}' 2>/dev/null; }
node_ready() {
  [[ "$(kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
containerd_answers() { ctr_node version; }

wait_node() {
  local what=$1
  shift
  wait_for "$what" "$NODE_WAIT_SECONDS" 2 "$@"
}

start_node() {
  local started=$SECONDS pod_cidr
  log "The node $NODE_NAME: Debian's containerd and runc, the kubelet and kube-proxy in $NODE_NETNS"
  make_cgroup_root
  save_sysctls
  host_kube_rules_before=$(host_kube_rules)
  node_started=true
  # First the images: checks/pods also installs Debian's docker.io, which brings containerd and runc.
  if ! make_node_images; then
    fail "the node's images: built and saved"
    return 1
  fi
  if [[ ! -x /usr/bin/containerd || ! -x /usr/bin/containerd-shim-runc-v2 || ! -x /usr/sbin/runc ]]; then
    fail "Debian's containerd and runc are installed (/usr/bin/containerd, containerd-shim-runc-v2, /usr/sbin/runc)"
    return 1
  fi
  write_containerd_config
  start_in_node containerd /usr/bin/containerd --config "$run_dir/containerd/config.toml"
  check "containerd answers on its own socket in $run_dir/containerd" wait_until containerd containerd_answers || return 1
  check "images imported into the node's containerd (no registry: built here, docker save / OCI archives)" \
    import_images || return 1
  write_kubelet_config
  mkdir -p "$run_dir/kubelet" "$run_dir/pod-logs"
  start_in_node kubelet "$BIN/kubelet" --config "$run_dir/kubelet.yaml" --kubeconfig "$run_dir/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$run_dir/kubelet" --cert-dir "$run_dir/kubelet/pki"
  if ! wait_node "node $NODE_NAME with a pod CIDR" node_pod_cidr; then
    fail "the kubelet registers node $NODE_NAME and the controller-manager gives it a pod CIDR"
    tail -n 30 "$run_dir/logs/kubelet.log" | indent
    return 1
  fi
  pod_cidr=$(node_pod_cidr)
  write_cni_config "$pod_cidr"
  write_kube_proxy_config
  start_in_node kube-proxy "$BIN/kube-proxy" --config "$run_dir/kube-proxy.yaml"
  start_network_policies
  if wait_node "node Ready" node_ready; then
    pass "node $NODE_NAME Ready in $((SECONDS - started)) s: kubelet $(kubectl get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.kubeletVersion}'), $(kubectl get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}'), pod CIDR $pod_cidr"
  else
    fail "node $NODE_NAME Ready"
    kubectl describe node "$NODE_NAME" | tail -n 30 | indent
    tail -n 20 "$run_dir/logs/kubelet.log" | indent
    return 1
  fi
  check "the node's InternalIP is $NODE_IP, the address of its own network namespace (not loopback)" \
    test "$(kubectl get node "$NODE_NAME" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')" == "$NODE_IP"
}

# kube-router with only its NetworkPolicy controller: iptables chains and ipsets in the node's
# namespace that admit to each pod only what the policies selecting it allow.
start_network_policies() {
  if ! dpkg-query -W -f='${Status}' ipset 2>/dev/null | grep -q 'install ok installed'; then
    echo "installing Debian's $IPSET_PACKAGE"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$IPSET_PACKAGE" >/dev/null; }; then
      fail "apt-get install $IPSET_PACKAGE (kube-router's NetworkPolicy controller needs it)"
      return 0
    fi
  fi
  start_in_node kube-router "$BIN/kube-router" --kubeconfig "$run_dir/kube-router.kubeconfig" \
    --hostname-override "$NODE_NAME" --run-firewall=true --run-router=false --run-service-proxy=false \
    --enable-cni=false --health-port 0 --v=1
}

policies_synced() { grep -q 'sync iptables took' "$run_dir/logs/kube-router.log"; }

# ---- teardown -------------------------------------------------------------------------------------

# The shims containerd started outlive it; ours are those whose command line names our socket.
our_shims() {
  local pid
  for pid in $(pgrep -f containerd-shim 2>/dev/null); do
    grep -qa -- "$run_dir/containerd/containerd.sock" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
  done
}

# Stops the node: the kubelet and kube-proxy first, then every container by containerd's own
# client, containerd, its shims; then the mounts, the network namespace, the cgroups.
stop_node() {
  [[ "$node_started" == true ]] || return 0
  local - index id pid
  set +e
  for index in "${!names[@]}"; do
    case "${names[$index]}" in
      kube-router | kube-proxy | kubelet) stop_process "${pids[$index]}" "${names[$index]}" ;;
    esac
  done
  if ctr_node version >/dev/null 2>&1; then
    for id in $(ctr_node tasks ls -q 2>/dev/null); do
      ctr_node tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 1
    for id in $(ctr_node tasks ls -q 2>/dev/null); do
      ctr_node tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr_node containers ls -q 2>/dev/null); do
      sandbox_ids+=("$id")
      ctr_node containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  for index in "${!names[@]}"; do
    [[ "${names[$index]}" == containerd ]] && stop_process "${pids[$index]}" containerd
  done
  for pid in $(our_shims); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  restore_sysctls
  node_started=false
}

host_kube_rules() { { iptables -w -S; iptables -w -t nat -S; } 2>/dev/null | grep 'KUBE-' || true; }

# After the teardown: nothing of the node left on the host.
node_leftovers() {
  local leftovers=()
  ip netns list | grep -qw "^$NODE_NETNS" && leftovers+=("network namespace $NODE_NETNS")
  ip link show "$LINK_HOST" >/dev/null 2>&1 && leftovers+=("link $LINK_HOST")
  ip route | grep -q "$NODE_IP" && leftovers+=("routes via $NODE_IP")
  grep -q " /tmp/paymesh-cluster\." /proc/self/mounts && leftovers+=("mounts under /tmp/paymesh-cluster.*")
  compgen -G "/sys/fs/cgroup/*/$CGROUP_ROOT" >/dev/null && leftovers+=("cgroups $CGROUP_ROOT")
  compgen -G "$CNI_RESULTS/$CNI_NETWORK-*" >/dev/null && leftovers+=("CNI results")
  [[ -n "$(our_shims)" ]] && leftovers+=("containerd shims")
  [[ "$(host_kube_rules)" == "$host_kube_rules_before" ]] || leftovers+=("KUBE- iptables rules in the host's namespace")
  if [[ ${#leftovers[@]} -gt 0 ]]; then
    echo "left: ${leftovers[*]}"
    return 1
  fi
}

# ---- add-ons and workloads ------------------------------------------------------------------------

# Before the kubelet starts: the pods already waiting for a node get storage and DNS at once.
apply_node_addons() {
  local addon
  log "The node's add-ons: CoreDNS, the local-path provisioner, the NetworkPolicy enforcer's RBAC"
  mkdir -p "$run_dir/local-path"
  for addon in coredns local-path kube-router; do
    check "kubectl apply -f addons/$addon.yaml" indented kubectl apply -f - \
      < <(sed "s|@LOCAL_PATH_DIR@|$run_dir/local-path|" "$HERE/addons/$addon.yaml")
  done
}

# The one thing this node does differently from a user's cluster: it has no registry, and the
# manifests pin PostgreSQL by the digest of the official image, which no local image can have.
# A kustomize overlay of manifests/ names the local PostgreSQL image of checks/pods instead; the
# StatefulSets' pods, still Pending for want of a node, are made again from it.
apply_local_postgres() {
  local overlay="$run_dir/overlay"
  mkdir -p "$overlay"
  cat >"$overlay/kustomization.yaml" <<EOF2
resources: [$(realpath --relative-to="$overlay" "$ROOT/manifests")]
images:
  - name: postgres
    newName: paymesh-local/postgres
    newTag: 17.5-standin
EOF2
  check "the overlay of manifests/ with the local PostgreSQL image (the one difference from deploy.sh's objects) applies" \
    indented kubectl apply -k "$overlay"
  kubectl delete pod -n invoice invoice-db-0 --ignore-not-found --wait=false >/dev/null
  kubectl delete pod -n payment payment-db-0 --ignore-not-found --wait=false >/dev/null
}

# In the background and waited for, so Ctrl-C or SIGTERM stops the run at once.
rolled_out() {
  local namespace=$1 workload=$2 timeout=$3
  indented kubectl -n "$namespace" rollout status "$workload" --timeout "${timeout}s" &
  wait "$!"
}

check_addons_running() {
  log "The add-ons run as pods on the node"
  check "CoreDNS: deployment/coredns in kube-system ready (its /ready probe)" rolled_out kube-system deployment/coredns 300
  check "local-path provisioner: deployment/local-path-provisioner ready" \
    rolled_out local-path-storage deployment/local-path-provisioner 300
}

# Every Deployment and StatefulSet of manifests/, each pod Running and Ready by its own probes.
check_workloads_ready() {
  local namespace kind name ready wanted
  log "The workloads of manifests/ on the node: Running and Ready by their own probes"
  while read -r namespace kind name; do
    if rolled_out "$namespace" "$kind/$name" 600; then
      wanted=$(kubectl -n "$namespace" get "$kind" "$name" -o jsonpath='{.spec.replicas}')
      ready=$(kubectl -n "$namespace" get "$kind" "$name" -o jsonpath='{.status.readyReplicas}')
      check "$namespace/$kind/$name: $ready of $wanted pods Running and Ready" test "$ready" == "$wanted"
    else
      fail "$namespace/$kind/$name rolled out"
      kubectl -n "$namespace" get pods -o wide | indent
      kubectl -n "$namespace" get events --sort-by=.lastTimestamp | tail -n 15 | indent
    fi
  done < <(kubectl get deployments,statefulsets -A -l "$PART_OF" \
    -o jsonpath='{range .items[*]}{.metadata.namespace} {.kind} {.metadata.name}{"\n"}{end}' | tr '[:upper:]' '[:lower:]')
  kubectl get pods -A -o wide | indent
}

claims_bound() {
  local line status=0
  while read -r line; do
    echo "    $line"
    [[ "$line" == *" Bound "* ]] || status=1
  done < <(kubectl get pvc -A -l "$PART_OF" --no-headers \
    -o custom-columns='NS:.metadata.namespace,NAME:.metadata.name,STATUS:.status.phase,CLASS:.spec.storageClassName,VOLUME:.spec.volumeName')
  return "$status"
}

check_storage() {
  local provisioned
  check "every PersistentVolumeClaim of the StatefulSets Bound (default StorageClass 'standard')" claims_bound
  provisioned=$(kubectl get pv -o jsonpath='{range .items[*]}{.metadata.annotations.pv\.kubernetes\.io/provisioned-by}{"\n"}{end}' | grep -c '^rancher.io/local-path$' || true)
  check "their PersistentVolumes made by the local-path provisioner ($provisioned)" test "$provisioned" -ge 2
}

# ---- traffic --------------------------------------------------------------------------------------

# A pod in a namespace of its own that no policy of ours names: the Debian base image, bash's
# /dev/tcp for connections and getent for names, so nothing but what the images hold is needed.
start_probe_pod() {
  kubectl create namespace "$PROBE_NAMESPACE" >/dev/null
  kubectl apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata:
  name: probe
  namespace: $PROBE_NAMESPACE
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: probe
      image: paymesh-local/debian:bookworm-minbase
      imagePullPolicy: Never
      command: ["sleep", "infinity"]
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]}}
EOF2
  indented kubectl -n "$PROBE_NAMESPACE" wait --for=condition=Ready pod/probe --timeout 120s
}

# in_pod NAMESPACE TARGET COMMAND: bash -c COMMAND in the pod's first container, through the API
# server, the kubelet and containerd.
in_pod() { kubectl -n "$1" exec "$2" -- bash -c "$3"; }

# connects NAMESPACE TARGET HOST PORT: a TCP connection opens within 5 s. Prints what happened.
connects() {
  local status=0
  in_pod "$1" "$2" "timeout 5 bash -c 'exec 3<>/dev/tcp/$3/$4'" 2>/dev/null || status=$?
  case "$status" in
    0) echo "    $2 -> $3:$4 connected" ;;
    124) echo "    $2 -> $3:$4 no answer within 5 s (dropped)" ;;
    *) echo "    $2 -> $3:$4 failed (exit $status: refused or unreachable)" ;;
  esac
  return "$status"
}

does_not_connect() {
  local status=0
  connects "$@" || status=$?
  [[ "$status" -ne 0 ]]
}

# http_ok NAMESPACE TARGET HOST PORT PATH: a plain HTTP/1.1 GET answers 200.
http_ok() {
  local line
  line=$(in_pod "$1" "$2" "timeout 10 bash -c 'exec 3<>/dev/tcp/$3/$4; printf \"GET $5 HTTP/1.1\r\nHost: $3\r\nConnection: close\r\n\r\n\" >&3; head -n 1 <&3'" 2>&1 | tr -d '\r')
  echo "    $2 -> http://$3:$4$5: $line"
  [[ "$line" == "HTTP/1."?" 200"* ]]
}

resolves_to() {
  local answer
  answer=$(in_pod "$1" "$2" "getent hosts $3" 2>&1 | awk '{print $1}')
  echo "    $3 -> ${answer:-nothing}"
  [[ -n "$answer" && "$answer" == "$4" ]]
}

check_services() {
  local provider_ip dns_ip kubernetes_ip app=deployment/invoice-app
  log "Services: cluster IPs through kube-proxy's iptables rules, names through CoreDNS"
  check "kube-proxy (iptables mode) programmed the Services in the node's namespace: KUBE-SERVICES has $(in_node iptables -w -t nat -S KUBE-SERVICES 2>/dev/null | grep -c -- '-j KUBE-SVC-') Services" \
    eval 'in_node iptables -w -t nat -S KUBE-SERVICES | grep -q -- "-j KUBE-SVC-"'
  if ! start_probe_pod; then
    fail "a probe pod in namespace $PROBE_NAMESPACE runs"
    return 1
  fi
  pass "a probe pod in namespace $PROBE_NAMESPACE (no NetworkPolicy of ours names it) Running"
  provider_ip=$(kubectl -n payment get service payment-provider -o jsonpath='{.spec.clusterIP}')
  dns_ip=$(kubectl -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}')
  kubernetes_ip=$(kubectl get service kubernetes -o jsonpath='{.spec.clusterIP}')
  check "DNS: the probe resolves payment-provider.payment.svc.cluster.local to its cluster IP $provider_ip (CoreDNS at $dns_ip)" \
    resolves_to "$PROBE_NAMESPACE" probe payment-provider.payment.svc.cluster.local "$provider_ip"
  check "DNS: invoice-app resolves payment-provider.payment.svc.cluster.local, the name of its PAYMENT_PROVIDER_URL" \
    resolves_to invoice "$app" payment-provider.payment.svc.cluster.local "$provider_ip"
  check "cluster IP: the probe reaches the API server through Service kubernetes ($kubernetes_ip:443 -> $LINK_HOST_ADDRESS)" \
    connects "$PROBE_NAMESPACE" probe "$kubernetes_ip" 443
  check "cluster IP: invoice-app gets 200 from payment-provider's readiness endpoint at $provider_ip:8082" \
    http_ok invoice "$app" "$provider_ip" 8082 /observe/health/ready
  check "DNS and cluster IP: invoice-app gets 200 from http://payment-provider.payment.svc.cluster.local:8082/observe/health/ready" \
    http_ok invoice "$app" payment-provider.payment.svc.cluster.local 8082 /observe/health/ready
}

# test.sh's flow, as a user runs it against a cluster without Istio's gateway: through a
# kubectl port-forward to Service invoice-app (API server, kubelet, containerd). invoice-app calls
# payment-provider by its DNS name through its cluster IP, as the NetworkPolicies allow.
check_flow() {
  local port forward_pid status=0
  log "test.sh --flow-only through kubectl port-forward service/invoice-app"
  port=$(free_port)
  kubectl -n invoice port-forward service/invoice-app "$port:8081" >"$run_dir/logs/port-forward.log" 2>&1 &
  forward_pid=$!
  if ! wait_until "port-forward" curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/invoices"; then
    fail "kubectl port-forward service/invoice-app answers on 127.0.0.1:$port"
    indent <"$run_dir/logs/port-forward.log"
    kill "$forward_pid" 2>/dev/null || true
    return
  fi
  pass "kubectl port-forward service/invoice-app answers on 127.0.0.1:$port"
  INVOICE_URL="http://127.0.0.1:$port" counted "$ROOT/test.sh" --flow-only || status=$?
  kill "$forward_pid" 2>/dev/null || true
  wait "$forward_pid" 2>/dev/null || true
  return "$status"
}

# The walls of manifests/network-policies.yaml, tried by connections. A dropped connection
# counts only while the same probe reaches what no policy closes (CoreDNS, the API server).
check_network_policies() {
  local app=deployment/invoice-app invoice_db payment_db
  log "NetworkPolicy, enforced on the node by kube-router's NetworkPolicy controller"
  if wait_until "kube-router's first sync" policies_synced; then
    pass "kube-router (NetworkPolicy controller only) runs on the node and has synced the policies into iptables and ipsets: $(in_node iptables -w -S | grep -c 'KUBE-NWPLCY-') policy rules"
  else
    fail "kube-router runs on the node and syncs the NetworkPolicies"
    tail -n 15 "$run_dir/logs/kube-router.log" | indent
  fi
  invoice_db=$(kubectl -n invoice get pod invoice-db-0 -o jsonpath='{.status.podIP}')
  payment_db=$(kubectl -n payment get pod payment-db-0 -o jsonpath='{.status.podIP}')
  check "NetworkPolicy: a pod of another namespace cannot connect to payment-provider (payment-provider.payment.svc:8082)" \
    does_not_connect "$PROBE_NAMESPACE" probe payment-provider.payment.svc.cluster.local 8082
  check "NetworkPolicy: a pod of another namespace cannot connect to invoice-app (only the ingress gateway may)" \
    does_not_connect "$PROBE_NAMESPACE" probe invoice-app.invoice.svc.cluster.local 8081
  check "NetworkPolicy: a pod of another namespace cannot connect to the invoice database ($invoice_db:5432)" \
    does_not_connect "$PROBE_NAMESPACE" probe "$invoice_db" 5432
  check "NetworkPolicy: a pod of another namespace cannot connect to the payment database ($payment_db:5432)" \
    does_not_connect "$PROBE_NAMESPACE" probe "$payment_db" 5432
  check "NetworkPolicy: invoice-app cannot connect to the payment database (only payment-provider may)" \
    does_not_connect invoice "$app" "$payment_db" 5432
  check "NetworkPolicy: invoice-app can connect to payment-provider (payment-provider.payment.svc:8082)" \
    connects invoice "$app" payment-provider.payment.svc.cluster.local 8082
  check "NetworkPolicy control: the same probe still reaches CoreDNS (kube-dns.kube-system.svc:53), which no policy closes" \
    connects "$PROBE_NAMESPACE" probe kube-dns.kube-system.svc.cluster.local 53
}

# What containerd's CRI does with the manifests' digest-pinned PostgreSQL reference on a node
# without a registry: the local image under the same name and tag does not stand in for it.
check_digest_pin() {
  local image reason
  image=$(sed -n 's/^ *image: \(postgres:.*@sha256:.*\)$/\1/p' "$run_dir/rendered/manifests.yaml" | head -n 1)
  ctr_node images tag docker.io/paymesh-local/postgres:17.5-standin "docker.io/library/${image%@*}" >/dev/null
  kubectl -n "$PROBE_NAMESPACE" run digest-pin --image "$image" --image-pull-policy IfNotPresent \
    --restart Never --command -- sleep infinity >/dev/null
  wait_until "digest-pin pull" eval "kubectl -n $PROBE_NAMESPACE get pod digest-pin -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -Eq 'ErrImagePull|ImagePullBackOff'" || true
  reason=$(kubectl -n "$PROBE_NAMESPACE" get pod digest-pin -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}')
  echo "    ${reason:0:300}"
  kubectl -n "$PROBE_NAMESPACE" delete pod digest-pin --wait=false >/dev/null
  ctr_node images rm "docker.io/library/${image%@*}" >/dev/null
  [[ "$reason" == ErrImagePull* || "$reason" == ImagePullBackOff* ]]
}
