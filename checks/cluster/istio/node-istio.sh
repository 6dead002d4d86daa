# shellcheck shell=bash
# Sourced by run.sh: Istio on the node. After the checks without Istio, the cluster is cleared and
# deploy.sh and test.sh run against it as a user runs them against a cluster of theirs
# (--context), with the Istio built here (README.md, "Istio on the node"): deploy.sh installs
# istiod and the ingress gateway, whose injection webhook gives every pod its sidecar; test.sh pays
# through the gateway and tries every wall; deploy.sh --delete removes it all again. Uses run.sh's
# and node.sh's helpers (check, pass, fail, counted, indented, kubectl, ctr_node, run_dir, ...).
# shellcheck disable=SC2154 # run_dir, passed, failed and keep are run.sh's

readonly ISTIO_IMAGES_BUILD="$HERE/istio/build-images.sh"
readonly DEPLOY_ON_NODE="$HERE/istio/deploy-on-node.sh"
# The context of the run's kubeconfigs (kubeconfig_for), the name deploy.sh and test.sh are given.
readonly CONTEXT=paymesh-check
# test.sh's probe namespace.
readonly TEST_PROBE_NAMESPACE=paymesh-probe
readonly CURL_STANDIN_IMAGE=docker.io/paymesh-local/curl:bookworm
readonly POSTGRES_STANDIN_IMAGE=docker.io/paymesh-local/postgres:17.5-standin
# What deploy.sh and the checks before it put on the cluster, and deploy.sh --delete must remove.
readonly OUR_NAMESPACES=(invoice payment istio-system "$TEST_PROBE_NAMESPACE" "$PROBE_NAMESPACE")
readonly DEPLOY_WAIT_TIMEOUT=300s

istio_hub=""
istio_tag=""
istio_images_tar=""

# Part of prepare_tools: the images, built before any cluster process starts.
build_istio_images() {
  local settings
  if ! indented "$ISTIO_IMAGES_BUILD"; then
    return 1
  fi
  settings=$("$ISTIO_IMAGES_BUILD" --print) || return 1
  istio_hub=$(sed -n 's/^ISTIO_HUB=//p' <<<"$settings")
  istio_tag=$(sed -n 's/^ISTIO_TAG=//p' <<<"$settings")
  istio_images_tar=$(sed -n 's/^ISTIO_IMAGES_TAR=//p' <<<"$settings")
  [[ -n "$istio_hub" && -n "$istio_tag" && -f "$istio_images_tar" ]]
}

# As the user runs them: KUBECONFIG names the cluster, kubectl on the PATH is the built one.
as_user() { env KUBECONFIG="$run_dir/admin.kubeconfig" PATH="$BIN:$PATH" "$@"; }

# by_digest REFERENCE: the name containerd's CRI looks a digest-pinned reference up by
# (NAME:TAG@DIGEST -> docker.io/[library/]NAME@DIGEST).
by_digest() {
  local reference=$1 name digest
  name=${reference%@*}
  digest=${reference#*@}
  [[ "${name##*/}" == *:* ]] && name=${name%:*}
  [[ "$name" == */* ]] || name="library/$name"
  [[ "${name%%/*}" == *.* ]] || name="docker.io/$name"
  echo "$name@$digest"
}

# pin_locally IMAGE REFERENCE: the local IMAGE, also under the digest-pinned REFERENCE's name.
pin_locally() {
  local target
  target=$(by_digest "$2")
  ctr_node images tag --force "$1" "$target" >/dev/null && echo "    $target -> $1"
}

# ---- the cluster cleared ------------------------------------------------------------------------

# Leftovers of paymesh or Istio on the cluster, one per line; nothing when it is clear.
cluster_leftovers() {
  local namespace
  for namespace in "${OUR_NAMESPACES[@]}"; do
    kubectl get namespace "$namespace" -o name 2>/dev/null || true
  done
  kubectl get crd -o name | grep 'istio\.io' || true
  kubectl get mutatingwebhookconfigurations,validatingwebhookconfigurations -o name | grep -i istio || true
  kubectl get clusterroles,clusterrolebindings -o name | grep -Ei 'istio|kiali|prometheus' || true
  kubectl get persistentvolumes -o name || true
}

cluster_clear() {
  local deadline=$((SECONDS + 240)) left
  while left=$(cluster_leftovers) && [[ -n "$left" ]]; do
    if [[ "$SECONDS" -ge "$deadline" ]]; then
      echo "    still there after 240 s:"
      indent "  " <<<"$left"
      return 1
    fi
    sleep 3
  done
}

addons_dir() {
  local module
  module=$(pinned ISTIOCTL_MODULE "$ROOT/checks/offline/install-tools.sh")
  echo "$(cd "$ROOT/.tools" && GOTOOLCHAIN=local go mod download -json "istio.io/istio@${module##*@}" \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')/samples/addons"
}

# What the checks above applied goes, so deploy.sh meets a cluster without paymesh or Istio; the
# services' images go from the node too, so that deploy.sh's IMAGE_LOAD is what brings them.
clear_for_deploy() {
  local dir
  log "The cluster cleared for deploy.sh: everything the checks above applied, removed"
  dir=$(addons_dir)
  {
    kubectl delete namespace "$PROBE_NAMESPACE" --ignore-not-found --wait=false
    kubectl delete --ignore-not-found -f "$dir/prometheus.yaml" -f "$dir/kiali.yaml"
    kubectl delete --ignore-not-found -k "$ROOT/mesh"
    kubectl delete --ignore-not-found --wait=false -k "$ROOT/manifests"
    kubectl delete namespace istio-system --ignore-not-found --wait=false
    kubectl delete --ignore-not-found -f "$(istio_crds)"
  } >"$run_dir/logs/clear.log" 2>&1
  check "the cluster holds nothing of paymesh or Istio: namespaces ${OUR_NAMESPACES[*]}, Istio's CRDs and webhooks, the addons' cluster roles and every volume gone" \
    cluster_clear || return 1
  ctr_node images rm "docker.io/paymesh/invoice-app:$(service_tag)" "docker.io/paymesh/payment-provider:$(service_tag)" >/dev/null
  check "the services' images removed from the node's containerd (deploy.sh's IMAGE_LOAD brings them)" \
    eval '! ctr_node images ls -q | grep -q "^docker.io/paymesh/"'
}

service_tag() { sed -n 's|^ *image: paymesh/invoice-app:\([^ ]*\) *$|\1|p' "$ROOT/manifests/invoice-app.yaml"; }

# ---- deploy.sh ----------------------------------------------------------------------------------

deploy_with_istio() {
  local postgres curl before
  log "Istio's images and the digest-pinned images on the node"
  check "Istio's images imported into the node's containerd ($istio_hub/pilot and proxyv2:$istio_tag, from ${istio_images_tar#"$ROOT"/})" \
    indented ctr_node images import "$istio_images_tar" || return 1
  # The manifests pin PostgreSQL, and test.sh its probe image, by digest: the local stand-ins are
  # tagged under the names containerd's CRI looks those references up by, so deploy.sh's objects
  # and test.sh's pods run unchanged.
  postgres=$(sed -n 's/^ *image: \(postgres:.*@sha256:.*\)$/\1/p' "$ROOT/manifests/invoice-db.yaml" | head -n 1)
  check "the manifests' $postgres answered by the local stand-in $POSTGRES_STANDIN_IMAGE (tagged by digest)" \
    pin_locally "$POSTGRES_STANDIN_IMAGE" "$postgres" || return 1

  log "./deploy.sh --context $CONTEXT --no-addons, with the Istio built here (checks/pods's dockerd builds the images)"
  before=$failed
  counted as_user WAIT_TIMEOUT="$DEPLOY_WAIT_TIMEOUT" "$ROOT/checks/pods/run.sh" --with-docker \
    "$DEPLOY_ON_NODE" deploy "$run_dir/containerd/containerd.sock" "$CONTEXT"
  [[ "$failed" -eq "$before" ]] || return 1
  curl=$(pinned CURL_IMAGE "$ROOT/test.sh")
  check "test.sh's $curl answered by the local stand-in $CURL_STANDIN_IMAGE (tagged by digest)" \
    pin_locally "$CURL_STANDIN_IMAGE" "$curl"
}

# ---- the mesh running ---------------------------------------------------------------------------

# Every pod of NAMESPACE: Ready, injected (istio-init and the native sidecar istio-proxy of the
# proxyv2 image), and by the webhook (its status annotation). Prints one line per pod.
pods_injected() {
  local namespace=$1 proxy="$istio_hub/proxyv2:$istio_tag"
  kubectl -n "$namespace" get pods -o json | "$PYTHON" -c '
import json, sys
proxy, status = sys.argv[1], 0
pods = json.load(sys.stdin)["items"]
if not pods:
    print("    no pods"); sys.exit(1)
for pod in pods:
    spec, meta = pod["spec"], pod["metadata"]
    init = {c["name"]: c for c in spec.get("initContainers", [])}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    sidecar = init.get("istio-proxy", {})
    ok = (ready and init.get("istio-init", {}).get("image") == proxy and sidecar.get("image") == proxy
          and sidecar.get("restartPolicy") == "Always" and "sidecar.istio.io/status" in meta.get("annotations", {}))
    print("    %s: %s; init %s; containers %s" % (meta["name"], "Ready" if ready else "NOT Ready",
          ", ".join(init), ", ".join(c["name"] for c in spec["containers"])))
    status |= not ok
sys.exit(status)' "$proxy"
}

# The validation webhook: istiod itself refuses what only it can judge (a regular expression that
# does not compile), called by the API server like the injection webhook.
istiod_validates() {
  local output
  output=$(kubectl apply --dry-run=server -f - 2>&1 <<EOF
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken-regex, namespace: invoice}
spec:
  hosts: [invoice-app]
  http:
    - match: [{uri: {regex: "(unclosed"}}]
      route: [{destination: {host: invoice-app}}]
EOF
  ) && { echo "    accepted: $output"; return 1; }
  grep -o 'admission webhook "[^"]*" denied the request.*' <<<"$output" | cut -c1-200 | indent "server: "
  grep -q 'admission webhook "validation.istio.io" denied' <<<"$output"
}

# runs_image DEPLOYMENT IMAGE: the Deployment of istio-system runs IMAGE and has a ready pod.
runs_image() {
  local image ready
  image=$(kubectl -n istio-system get deployment "$1" -o jsonpath='{.spec.template.spec.containers[0].image}')
  ready=$(kubectl -n istio-system get deployment "$1" -o jsonpath='{.status.readyReplicas}')
  echo "    $1: $image, ${ready:-0} ready"
  [[ "$image" == "$2" && "${ready:-0}" -ge 1 ]]
}

check_mesh_running() {
  local namespace
  log "Istio on the node: istiod, the gateway, every workload with its sidecar"
  check "istiod runs the image built here and is ready" runs_image istiod "$istio_hub/pilot:$istio_tag"
  check "istio-ingressgateway runs the image built here and is ready" \
    runs_image istio-ingressgateway "$istio_hub/proxyv2:$istio_tag"
  for namespace in invoice payment; do
    check "every pod in $namespace injected by istiod's webhook (the API server calls its Service's cluster IP through the host's route via the node) with istio-init and the native sidecar istio-proxy ($istio_hub/proxyv2:$istio_tag), and Ready" \
      pods_injected "$namespace"
  done
  check "istiod's validation webhook refuses a VirtualService whose regular expression does not compile" istiod_validates
}

# ---- test.sh ------------------------------------------------------------------------------------

run_test_sh() {
  local status=0
  as_user GATEWAY_PORT="$(free_port)" "$ROOT/test.sh" --context "$CONTEXT" 2>&1 | tee "$run_dir/logs/test-sh.log" \
    || status=$?
  return "$status"
}

check_test_sh() {
  log "./test.sh --context $CONTEXT: the flow through the ingress gateway, then every wall"
  counted run_test_sh
  check "test.sh went through istio-ingressgateway (its own port-forward: nothing answers on localhost:GATEWAY_PORT here)" \
    grep -q 'using a port-forward to istio-ingressgateway' "$run_dir/logs/test-sh.log"
  check "test.sh ended '0 failed' with every wall enforced here (no NOT ENFORCED ON THIS HOST line)" \
    eval "grep -Eq '^test.sh: [1-9][0-9]* passed, 0 failed\$' '$run_dir/logs/test-sh.log' && ! grep -q '^NOT ENFORCED' '$run_dir/logs/test-sh.log'"
}

# ---- deploy.sh --delete -------------------------------------------------------------------------

check_deploy_delete() {
  log "./deploy.sh --context $CONTEXT --delete"
  check "./deploy.sh --context $CONTEXT --delete (ISTIOCTL as for the install) completes" \
    indented as_user ISTIOCTL="$ROOT/.tools/bin/istioctl" WAIT_TIMEOUT="$DEPLOY_WAIT_TIMEOUT" \
    "$ROOT/deploy.sh" --context "$CONTEXT" --delete
  check "after deploy.sh --delete the cluster holds nothing of paymesh or Istio: namespaces, Istio's CRDs and webhooks, cluster roles, volumes" \
    cluster_clear
}

# The whole part; each step needs the one before. Prints how long each took.
run_istio() {
  local started=$SECONDS step=$SECONDS
  clear_for_deploy || return 0
  echo "(cleared in $((SECONDS - step)) s)"
  step=$SECONDS
  deploy_with_istio || return 0
  echo "(images imported, deploy.sh and its dockerd in $((SECONDS - step)) s)"
  check_mesh_running
  step=$SECONDS
  check_test_sh
  echo "(test.sh in $((SECONDS - step)) s)"
  # run.sh --keep keeps the deployment to look at; deploy.sh --delete is then left to the user.
  if [[ "$keep" == true ]]; then
    echo "--keep: ./deploy.sh --context $CONTEXT --delete is not run, so paymesh and Istio stay to look at"
  else
    step=$SECONDS
    check_deploy_delete
    echo "(deploy.sh --delete and the cluster clear in $((SECONDS - step)) s)"
  fi
  echo "Istio on the node took $((SECONDS - started)) s"
}
