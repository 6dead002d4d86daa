#!/usr/bin/env bash
# Proves the deployed system works and is isolated.
#   ./test.sh                  the flow through the gateway, then the isolation checks (needs kubectl),
#                              on the cluster deploy.sh made: context kind-paymesh
#   ./test.sh --context NAME   the same on another kubectl context (as ./deploy.sh --context NAME)
#   ./test.sh --flow-only      the flow only; INVOICE_URL=http://127.0.0.1:8081 ./test.sh --flow-only
#                              runs it against the services started by ./run-local.sh
# Environment: KUBE_CONTEXT (like --context), GATEWAY_PORT (default 8080, as for deploy.sh),
# INVOICE_URL (default http://localhost:GATEWAY_PORT, the gateway on kind; when nothing answers
# there, a port-forward to the gateway).
# One PASS/FAIL line per check; exits non-zero when any check fails. Where the host enforces no
# NetworkPolicy at all (a deny-all policy of test.sh's own has no effect either), the network wall
# is reported on a NOT ENFORCED ON THIS HOST line instead of a FAIL.
# Written for bash 3.2 and newer (macOS's /bin/bash is 3.2); the test command checks that.
set -euo pipefail

readonly KIND_CONTEXT="kind-paymesh"
readonly GATEWAY_PORT="${GATEWAY_PORT:-8080}"
readonly DEFAULT_GATEWAY_URL="http://localhost:$GATEWAY_PORT"
readonly WAIT_SECONDS=120
readonly NEW_INVOICES=3
readonly CONSISTENCY_READS=6
# The isolation probes live in a namespace of their own, with sidecar injection on, under a
# ServiceAccount the mesh policies never mention.
readonly PROBE_NAMESPACE="paymesh-probe"
readonly PROBE_SERVICE_ACCOUNT="intruder"
readonly CURL_IMAGE="curlimages/curl:8.22.0@sha256:58adaa4e8dca9c988bae2aba4ab3434a0bb2da16bbe3f92dec39ec7785166777"
readonly PROBE_UID=10001
readonly PAYMENT_URL_IN_MESH="http://payment-provider.payment.svc.cluster.local:8082"
# While the mesh's own walls are tested, this NetworkPolicy lets the probe namespace past the
# network wall in front of payment-provider; it exists only during those two checks.
readonly PROBE_NETWORK_POLICY="test-sh-probe-to-payment-provider"
# The control experiment: a deny-all NetworkPolicy on a probe pod, which any enforcing network
# plugin applies. Its target is the meshed probe's own proxy health port (15021, never captured
# by the sidecar), so no image beyond the curl one is needed.
readonly CONTROL_NETWORK_POLICY="test-sh-deny-all-to-meshed-intruder"
readonly PROXY_HEALTH_PORT=15021

passed=0
failed=0
not_enforced=0
invoice_url=""
created_ids=()
kube_context="${KUBE_CONTEXT:-$KIND_CONTEXT}"
port_forward_pid=""
probes_created=false

pass() { printf 'PASS: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; failed=$((failed + 1)); }
not_enforced_here() { printf 'NOT ENFORCED ON THIS HOST: %s\n' "$*"; not_enforced=$((not_enforced + 1)); }
info() { printf '  %s\n' "$*"; }

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "test.sh needs '$tool' on the PATH" >&2; exit 2; }
  done
}

wait_until_answering() {
  local deadline=$(( $(date +%s) + WAIT_SECONDS ))
  until curl -fs -o /dev/null --max-time 5 "$invoice_url/invoices"; do
    if (( $(date +%s) > deadline )); then
      fail "invoice-app answers at $invoice_url/invoices (waited ${WAIT_SECONDS}s; is ./deploy.sh done?)"
      summary_and_exit
    fi
    sleep 2
  done
  pass "invoice-app answers at $invoice_url/invoices"
}

# Fresh ids every run, so the script can run again and again against the same system.
create_invoices() {
  local run_id i status
  run_id="T$(date +%s)-$RANDOM"
  created_ids=()
  for ((i = 1; i <= NEW_INVOICES; i++)); do
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
      -d "{\"InvoiceId\":\"$run_id-$i\",\"Value\":$i.50,\"Currency\":\"EUR\"}" "$invoice_url/invoices")
    if [[ "$status" == 201 ]]; then
      created_ids+=("$run_id-$i")
    fi
  done
  if [[ ${#created_ids[@]} -eq "$NEW_INVOICES" ]]; then
    pass "created $NEW_INVOICES fresh unpaid invoices (${created_ids[*]+${created_ids[*]}})"
  else
    fail "created $NEW_INVOICES fresh unpaid invoices: only ${#created_ids[@]} answered 201"
  fi
}

pay_all_unpaid() {
  local body status
  body=$(mktemp)
  status=$(curl -s -o "$body" -w '%{http_code}' --max-time 60 -X POST \
    -H "x-request-id: test-sh-$$" "$invoice_url/invoices/pay")
  if [[ "$status" == 200 ]]; then
    pass "POST /invoices/pay paid $(jq '.paid | length' "$body") invoices, none failed"
  else
    fail "POST /invoices/pay answered $status: $(head -c 500 "$body")"
  fi
  rm -f "$body"
}

# Several replicas share one database, so every read must agree whichever replica answers it:
# read several times, the whole list and each new invoice.
check_nothing_unpaid() {
  local i unpaid paid id consistent=true
  for ((i = 1; i <= CONSISTENCY_READS; i++)); do
    unpaid=$(curl -fs --max-time 10 "$invoice_url/invoices?paid=false" | jq 'length') || unpaid="no answer"
    if [[ "$unpaid" != 0 ]]; then
      consistent=false
      fail "no invoice is left unpaid (read $i of $CONSISTENCY_READS of GET /invoices?paid=false: $unpaid)"
      break
    fi
    for id in ${created_ids[@]+"${created_ids[@]}"}; do
      paid=$(curl -fs --max-time 10 "$invoice_url/invoices/$id" | jq -r '.IsPaid') || paid="no answer"
      if [[ "$paid" != true ]]; then
        consistent=false
        fail "invoice $id is paid (read $i of $CONSISTENCY_READS says: $paid)"
        break 2
      fi
    done
  done
  if [[ "$consistent" == true ]]; then
    pass "no invoice is left unpaid, and the new ones read as paid on $CONSISTENCY_READS reads"
  fi
}

print_paid() {
  echo "Paid invoices:"
  curl -fs --max-time 10 "$invoice_url/invoices?paid=true" \
    | jq -r '.[] | "  \(.InvoiceId)\t\(.Value)\t\(.Currency)"' \
    || info "(the list could not be read)"
}

check_flow() {
  wait_until_answering
  create_invoices
  pay_all_unpaid
  check_nothing_unpaid
  print_paid
}

# --- isolation: needs a cluster ---

# Always the named context, as deploy.sh does, so kubectl's current context never matters.
kc() { kubectl --context "$kube_context" "$@"; }

cleanup() {
  if [[ -n "$port_forward_pid" ]]; then
    kill "$port_forward_pid" 2>/dev/null || true
  fi
  if [[ "$probes_created" == true ]]; then
    kc -n payment delete networkpolicy "$PROBE_NETWORK_POLICY" --ignore-not-found >/dev/null 2>&1 || true
    kc -n "$PROBE_NAMESPACE" delete networkpolicy "$CONTROL_NETWORK_POLICY" --ignore-not-found >/dev/null 2>&1 || true
    kc delete namespace "$PROBE_NAMESPACE" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
}

# Without INVOICE_URL: the gateway on localhost:GATEWAY_PORT (kind), or else a port-forward to it
# on a local port kubectl picks (a fixed one may be taken by another program here).
find_gateway() {
  if curl -fs -o /dev/null --max-time 5 "$DEFAULT_GATEWAY_URL/invoices"; then
    invoice_url=$DEFAULT_GATEWAY_URL
    return 0
  fi
  local log i port
  log=$(mktemp)
  kc -n istio-system port-forward service/istio-ingressgateway ":80" >"$log" 2>&1 &
  port_forward_pid=$!
  for ((i = 0; i < 20; i++)); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)
    if [[ -n "$port" ]] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
      invoice_url="http://127.0.0.1:$port"
      info "nothing answered at $DEFAULT_GATEWAY_URL: using a port-forward to istio-ingressgateway on port $port"
      rm -f "$log"
      return 0
    fi
    sleep 1
  done
  fail "the gateway is reachable: nothing at $DEFAULT_GATEWAY_URL, and the port-forward did not open: $(tr '\n' ' ' <"$log")"
  rm -f "$log"
  summary_and_exit
}

check_gateway_does_not_route_payments() {
  local post get
  post=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -d '{"id":"gateway-probe","value":1,"currency":"EUR"}' "$invoice_url/payments/pay")
  get=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$invoice_url/payments/I1")
  if [[ "$post" == 404 && "$get" == 404 ]]; then
    pass "the gateway does not route to payment-provider (POST /payments/pay and GET /payments/I1 -> 404)"
  else
    fail "the gateway does not route to payment-provider: POST /payments/pay answered $post, GET /payments/I1 $get"
  fi
}

# A curl container that sleeps, so each check can exec into it; a numeric non-root user and no
# privileges. With inject "true" Istio adds its usual sidecar, which gives the pod a mesh identity.
probe_pod() {
  local name=$1 inject=$2
  cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $PROBE_NAMESPACE
  labels:
    app.kubernetes.io/name: paymesh-probe
    app.kubernetes.io/component: $name
    app.kubernetes.io/part-of: paymesh-test
    sidecar.istio.io/inject: "$inject"
spec:
  serviceAccountName: $PROBE_SERVICE_ACCOUNT
  automountServiceAccountToken: false
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: probe
      image: $CURL_IMAGE
      command: ["sleep", "3600"]
      resources:
        requests: {cpu: 10m, memory: 16Mi}
        limits: {cpu: 200m, memory: 64Mi}
      securityContext:
        runAsNonRoot: true
        runAsUser: $PROBE_UID
        runAsGroup: $PROBE_UID
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        capabilities: {drop: ["ALL"]}
        seccompProfile: {type: RuntimeDefault}
EOF
}

# meshed-intruder has a sidecar and so a mesh identity of its own; plain-intruder has none. The
# namespace's Sidecar lets the probes' proxies know payment-provider whatever the mesh default is.
create_probes() {
  info "starting the probe pods in namespace $PROBE_NAMESPACE"
  kc delete namespace "$PROBE_NAMESPACE" --ignore-not-found --timeout=120s >/dev/null || return 1
  probes_created=true
  {
    cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $PROBE_NAMESPACE
  labels:
    istio-injection: enabled
    app.kubernetes.io/part-of: paymesh-test
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $PROBE_SERVICE_ACCOUNT
  namespace: $PROBE_NAMESPACE
automountServiceAccountToken: false
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: $PROBE_NAMESPACE
spec:
  egress:
    - hosts: ["./*", "istio-system/*", "payment/*"]
EOF
    probe_pod meshed-intruder true
    probe_pod plain-intruder false
  } | kc apply -f - >/dev/null || return 1
  kc -n "$PROBE_NAMESPACE" wait --for=condition=Ready pod/meshed-intruder pod/plain-intruder \
    --timeout=180s >/dev/null || return 1
}

# Runs curl in a probe pod: prints what curl prints, returns curl's exit status.
probe_curl() {
  local pod=$1
  shift
  kc -n "$PROBE_NAMESPACE" exec "$pod" -c probe -- curl "$@" 2>/dev/null
}

# kindnet's own account of why it cannot enforce NetworkPolicies, if it is the network plugin and
# gave one (a kernel without nfqueue support, as reported on WSL2).
kindnet_nfqueue_failure() {
  kc -n kube-system logs -l app=kindnet --tail=-1 2>/dev/null | grep -m 1 'could not open nfqueue socket' || true
}

# Does this host enforce NetworkPolicies at all? A deny-all policy on meshed-intruder must stop
# plain-intruder from reaching its proxy's health port, which it reaches without the policy.
# Prints the verdict: enforced, not-enforced, or unknown (the baseline connection failed).
network_policy_control_experiment() {
  local address code attempt verdict=not-enforced
  address=$(kc -n "$PROBE_NAMESPACE" get pod meshed-intruder -o jsonpath='{.status.podIP}' 2>/dev/null) || address=""
  if [[ -z "$address" ]] || ! probe_curl plain-intruder -s -o /dev/null --connect-timeout 5 --max-time 8 \
    "http://$address:$PROXY_HEALTH_PORT/healthz/ready"; then
    echo unknown
    return 0
  fi
  kc apply -f - >/dev/null <<EOF || { echo unknown; return 0; }
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: $CONTROL_NETWORK_POLICY
  namespace: $PROBE_NAMESPACE
  labels:
    app.kubernetes.io/part-of: paymesh-test
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/component: meshed-intruder
  policyTypes: ["Ingress"]
EOF
  # A new policy takes a moment to be programmed: look for about half a minute.
  for ((attempt = 1; attempt <= 10; attempt++)); do
    code=0
    probe_curl plain-intruder -s -o /dev/null --connect-timeout 3 --max-time 5 \
      "http://$address:$PROXY_HEALTH_PORT/healthz/ready" || code=$?
    if [[ "$code" == 28 || "$code" == 7 ]]; then
      verdict=enforced
      break
    fi
    sleep 2
  done
  kc -n "$PROBE_NAMESPACE" delete networkpolicy "$CONTROL_NETWORK_POLICY" --ignore-not-found >/dev/null 2>&1 || true
  echo "$verdict"
}

# The network wall: payment-provider's NetworkPolicies admit invoice-app's pods only, so a pod of
# another namespace does not even get a TCP connection (the packets are dropped: a timeout). When
# it does connect, the control experiment tells a host that enforces no NetworkPolicy at all from
# a wall of ours that is broken.
check_network_policy_blocks_other_namespaces() {
  local code=0 reason
  probe_curl plain-intruder -s -o /dev/null --connect-timeout 5 --max-time 8 \
    "$PAYMENT_URL_IN_MESH/payments/I1" || code=$?
  case "$code" in
    28 | 7)
      pass "NetworkPolicy: a pod of another namespace cannot open a connection to payment-provider (curl exit $code)"
      return 0 ;;
    52 | 56 | 0) ;;
    *)
      fail "NetworkPolicy: a pod of another namespace cannot connect to payment-provider: unexpected exit status $code (kubectl exec or curl)"
      return 0 ;;
  esac
  case "$(network_policy_control_experiment)" in
    not-enforced)
      reason=$(kindnet_nfqueue_failure)
      not_enforced_here "NetworkPolicy: a pod of another namespace reached payment-provider (curl exit $code), and a deny-all NetworkPolicy of test.sh's own had no effect either: this cluster's network plugin enforces no NetworkPolicy here${reason:+ (kindnet: $reason)}. The mesh's walls below still hold; README.md lists the hosts where this is known." ;;
    enforced)
      fail "NetworkPolicy: a pod of another namespace reached payment-provider (curl exit $code), although this cluster enforces NetworkPolicies (test.sh's deny-all policy held): payment's policies do not keep other namespaces out" ;;
    *)
      fail "NetworkPolicy: a pod of another namespace reached payment-provider (curl exit $code); whether this host enforces NetworkPolicies at all could not be told (the probe pods could not reach each other without a policy)" ;;
  esac
}

# NetworkPolicies only ever add permissions, so this opens port 8082 to the probe namespace alone
# and leaves every other rule as it is.
open_network_policy_for_probes() {
  kc apply -f - >/dev/null <<EOF || return 1
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: $PROBE_NETWORK_POLICY
  namespace: payment
  labels:
    app.kubernetes.io/part-of: paymesh-test
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: payment-provider
  policyTypes: ["Ingress"]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: $PROBE_NAMESPACE
      ports:
        - protocol: TCP
          port: 8082
EOF
  info "opened payment-provider:8082 to namespace $PROBE_NAMESPACE for the next two checks (NetworkPolicy $PROBE_NETWORK_POLICY)"
}

close_network_policy_for_probes() {
  kc -n payment delete networkpolicy "$PROBE_NETWORK_POLICY" --ignore-not-found >/dev/null
  info "closed it again"
}

# STRICT mTLS: payment-provider's proxy accepts the TCP connection and closes it, unanswered, as
# soon as it sees plaintext (curl: empty reply or reset). A timeout or a refusal comes from the
# network instead, the opening above not in force yet, so those are retried for a while.
check_no_sidecar_cannot_connect() {
  local code attempt
  for ((attempt = 1; attempt <= 10; attempt++)); do
    code=0
    probe_curl plain-intruder -s -o /dev/null --connect-timeout 3 --max-time 8 \
      "$PAYMENT_URL_IN_MESH/payments/I1" || code=$?
    [[ "$code" == 28 || "$code" == 7 ]] || break
    sleep 2
  done
  case "$code" in
    52 | 56)
      pass "a pod without a sidecar cannot talk to payment-provider (STRICT mTLS closed the connection unanswered: curl exit $code)" ;;
    0)
      fail "a pod without a sidecar cannot talk to payment-provider: it got an HTTP answer (is PeerAuthentication STRICT?)" ;;
    28 | 7)
      fail "a pod without a sidecar cannot talk to payment-provider: still no TCP connection (curl exit $code) with the network wall opened, so mTLS was never reached" ;;
    *)
      fail "a pod without a sidecar cannot talk to payment-provider: unexpected exit status $code (kubectl exec or curl)" ;;
  esac
}

# AuthorizationPolicy: a meshed caller with another identity gets through mTLS and is turned away by
# payment-provider's proxy. 503 or no status means the connection itself failed (the opening above
# not in force yet), so those alone are retried for a while.
check_other_identity_is_denied() {
  local output status attempt
  for ((attempt = 1; attempt <= 10; attempt++)); do
    output=$(probe_curl meshed-intruder -s -w '\n%{http_code}' --max-time 10 \
      -H 'Content-Type: application/json' -d '{"id":"intruder","value":1,"currency":"EUR"}' \
      "$PAYMENT_URL_IN_MESH/payments/pay") || true
    status=$(tail -n 1 <<<"$output")
    [[ "$status" == 503 || "$status" == 000 || -z "$status" ]] || break
    sleep 2
  done
  if [[ "$status" == 403 && "$output" == *"RBAC: access denied"* ]]; then
    pass "a meshed pod with another identity gets 403 RBAC: access denied from payment-provider"
  else
    fail "a meshed pod with another identity gets 403 from payment-provider; it got: $(tr '\n' ' ' <<<"$output")"
  fi
}

# The real caller: a short-lived ephemeral container inside a running invoice-app pod. It shares the
# pod's network, so its request leaves through invoice-app's own sidecar, with invoice-app's
# identity, past the same NetworkPolicies as the app. (Curl in the istio-proxy container would not
# do: the proxy's own traffic bypasses the proxy, so it would go out as plaintext and be refused.)
check_invoice_app_identity_is_allowed() {
  local pod container custom exit_code="" status i id="${created_ids[0]:-I1}"
  pod=$(kc -n invoice get pods -l app.kubernetes.io/name=invoice-app --field-selector=status.phase=Running \
    -o jsonpath='{.items[0].metadata.name}' 2>/dev/null) || pod=""
  if [[ -z "$pod" ]]; then
    fail "invoice-app's identity reaches payment-provider: no running invoice-app pod found"
    return 0
  fi
  container="probe-$(date +%s)-$RANDOM"
  custom=$(mktemp)
  printf '{"securityContext":{"runAsUser":%d,"runAsGroup":%d}}\n' "$PROBE_UID" "$PROBE_UID" >"$custom"
  if ! kc -n invoice debug "pod/$pod" --quiet --image="$CURL_IMAGE" --container="$container" \
    --profile=restricted --custom="$custom" -- \
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$PAYMENT_URL_IN_MESH/payments/$id" >/dev/null; then
    rm -f "$custom"
    fail "invoice-app's identity reaches payment-provider: kubectl debug could not add a container to pod $pod"
    return 0
  fi
  rm -f "$custom"
  for ((i = 0; i < 60; i++)); do
    exit_code=$(kc -n invoice get pod "$pod" \
      -o jsonpath="{.status.ephemeralContainerStatuses[?(@.name==\"$container\")].state.terminated.exitCode}") || true
    [[ -z "$exit_code" ]] || break
    sleep 2
  done
  status=$(kc -n invoice logs "$pod" -c "$container" 2>/dev/null) || status=""
  case "$status" in
    200) pass "invoice-app's identity reaches payment-provider (from pod $pod: GET /payments/$id -> 200, the payment is recorded)" ;;
    404) pass "invoice-app's identity reaches payment-provider (from pod $pod: GET /payments/$id -> 404 from the app, not 403)" ;;
    *) fail "invoice-app's identity reaches payment-provider: from pod $pod, GET /payments/$id gave '$status' (curl exit ${exit_code:-unknown})" ;;
  esac
}

check_isolation() {
  check_gateway_does_not_route_payments
  if ! create_probes; then
    fail "the probe pods start in namespace $PROBE_NAMESPACE (kubectl -n $PROBE_NAMESPACE describe pods)"
    return 0
  fi
  check_network_policy_blocks_other_namespaces
  if open_network_policy_for_probes; then
    check_no_sidecar_cannot_connect
    check_other_identity_is_denied
    close_network_policy_for_probes
  else
    fail "the probe namespace is let past payment's NetworkPolicies for the mTLS and AuthorizationPolicy checks: kubectl apply failed, so they did not run"
  fi
  check_invoice_app_identity_is_allowed
}

summary_and_exit() {
  if [[ "$not_enforced" -gt 0 ]]; then
    echo "test.sh: $passed passed, $failed failed, $not_enforced not enforced on this host"
  else
    echo "test.sh: $passed passed, $failed failed"
  fi
  [[ "$failed" -eq 0 ]] && exit 0 || exit 1
}

main() {
  local flow_only=false
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --flow-only) flow_only=true; shift ;;
      --context)
        [[ $# -ge 2 && -n "$2" ]] || { echo "--context needs a context name" >&2; exit 2; }
        kube_context=$2
        shift 2
        ;;
      --context=*)
        kube_context=${1#--context=}
        [[ -n "$kube_context" ]] || { echo "--context needs a context name" >&2; exit 2; }
        shift
        ;;
      -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *) echo "unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
  done
  [[ "$GATEWAY_PORT" =~ ^[0-9]+$ ]] || { echo "GATEWAY_PORT must be a port number (got '$GATEWAY_PORT')" >&2; exit 2; }
  require curl jq
  if [[ "$flow_only" == false ]]; then
    require kubectl
    kubectl config get-contexts "$kube_context" >/dev/null 2>&1 || {
      echo "kubectl has no context named '$kube_context': run ./deploy.sh first, or name the cluster with --context NAME (see: kubectl config get-contexts)" >&2
      exit 2
    }
    echo "cluster: context $kube_context"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
  fi
  if [[ -n "${INVOICE_URL:-}" ]]; then
    invoice_url="${INVOICE_URL%/}"
  elif [[ "$flow_only" == true ]]; then
    invoice_url=$DEFAULT_GATEWAY_URL
  else
    find_gateway
  fi
  echo "invoice-app: $invoice_url"
  check_flow
  if [[ "$flow_only" == true ]]; then
    echo "Isolation was not checked (--flow-only): run ./test.sh against a deployed cluster for that."
  else
    check_isolation
  fi
  summary_and_exit
}

main "$@"
