#!/usr/bin/env bash
# Proves the deployed system works and is isolated.
#   ./test.sh               flow through the gateway, then the isolation checks (needs kubectl)
#   ./test.sh --flow-only   the flow only; INVOICE_URL=http://127.0.0.1:8081 ./test.sh --flow-only
#                           runs it against the services started by ./run-local.sh
# One PASS/FAIL line per check; exits non-zero when any check fails.
set -euo pipefail

readonly DEFAULT_GATEWAY_URL="http://localhost:8080"
readonly WAIT_SECONDS=120
readonly PROBE_NAMESPACE="paymesh-probe"
readonly CURL_IMAGE="curlimages/curl:8.11.1"
readonly PAYMENT_URL_IN_MESH="http://payment-provider.payment.svc.cluster.local:8082"
readonly NEW_INVOICES=3
readonly CONSISTENCY_READS=5

passed=0
failed=0
invoice_url=""

pass() { printf 'PASS: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL: %s\n' "$*"; failed=$((failed + 1)); }
info() { printf '  %s\n' "$*"; }

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "test.sh needs '$tool' on the PATH" >&2; exit 2; }
  done
}

find_invoice_url() {
  invoice_url="${INVOICE_URL:-$DEFAULT_GATEWAY_URL}"
  invoice_url="${invoice_url%/}"
  echo "invoice-app: $invoice_url"
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
    pass "created $NEW_INVOICES fresh unpaid invoices (${created_ids[*]})"
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

# With several replicas behind the gateway every read must agree, so read more than once.
check_nothing_unpaid() {
  local i unpaid id consistent=true
  for ((i = 1; i <= CONSISTENCY_READS; i++)); do
    unpaid=$(curl -fs --max-time 10 "$invoice_url/invoices?paid=false" | jq 'length')
    if [[ "$unpaid" != 0 ]]; then
      consistent=false
      fail "no invoice is left unpaid (read $i of $CONSISTENCY_READS saw $unpaid unpaid)"
      break
    fi
    for id in "${created_ids[@]}"; do
      if [[ $(curl -fs --max-time 10 "$invoice_url/invoices/$id" | jq -r '.IsPaid') != true ]]; then
        consistent=false
        fail "invoice $id is paid (read $i of $CONSISTENCY_READS says it is not)"
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
    | jq -r '.[] | "  \(.InvoiceId)\t\(.Value)\t\(.Currency)"'
}

check_flow() {
  wait_until_answering
  create_invoices
  pay_all_unpaid
  check_nothing_unpaid
  print_paid
}

# --- isolation: needs a cluster ---

check_gateway_does_not_route_payments() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -d '{"id":"gateway-probe","value":1,"currency":"EUR"}' "$invoice_url/payments/pay")
  if [[ "$status" == 404 ]]; then
    pass "the gateway does not route to payment-provider (POST /payments/pay -> 404)"
  else
    fail "the gateway does not route to payment-provider: POST $invoice_url/payments/pay answered $status"
  fi
}

setup_probe_namespace() {
  kubectl get namespace "$PROBE_NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$PROBE_NAMESPACE" >/dev/null
  kubectl label namespace "$PROBE_NAMESPACE" istio-injection=enabled --overwrite >/dev/null
  kubectl -n "$PROBE_NAMESPACE" get serviceaccount intruder >/dev/null 2>&1 \
    || kubectl -n "$PROBE_NAMESPACE" create serviceaccount intruder >/dev/null
}

cleanup_probes() {
  kubectl delete namespace "$PROBE_NAMESPACE" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}

# Runs curl once in a short-lived pod and prints what it printed. Arguments: pod name, whether it
# gets a sidecar, then curl's arguments. The sidecar is told to quit when curl is done.
run_probe_pod() {
  local name=$1 inject=$2
  shift 2
  kubectl -n "$PROBE_NAMESPACE" delete pod "$name" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  kubectl -n "$PROBE_NAMESPACE" run "$name" --image="$CURL_IMAGE" --restart=Never \
    --overrides="{\"spec\":{\"serviceAccountName\":\"intruder\"}}" \
    --annotations="sidecar.istio.io/inject=$inject" \
    --annotations='proxy.istio.io/config={"holdApplicationUntilProxyStarts": true}' \
    --command -- sh -c "curl $* ; code=\$?; curl -s -X POST http://127.0.0.1:15020/quitquitquit >/dev/null 2>&1; exit \$code" \
    >/dev/null
  kubectl -n "$PROBE_NAMESPACE" wait pod "$name" --for=jsonpath='{.status.phase}'=Succeeded --timeout=90s >/dev/null 2>&1 \
    || kubectl -n "$PROBE_NAMESPACE" wait pod "$name" --for=jsonpath='{.status.phase}'=Failed --timeout=5s >/dev/null 2>&1 \
    || true
  kubectl -n "$PROBE_NAMESPACE" logs "$name" -c "$name" 2>/dev/null || true
}

check_other_identity_is_denied() {
  local output
  output=$(run_probe_pod meshed-intruder true -s -w "'\\n%{http_code}'" --max-time 10 "$PAYMENT_URL_IN_MESH/payments/pay" \
    -H "'Content-Type: application/json'" -d "'{\"id\":\"intruder\",\"value\":1,\"currency\":\"EUR\"}'")
  if [[ "$(tail -n 1 <<<"$output")" == 403 && "$output" == *"RBAC: access denied"* ]]; then
    pass "a meshed pod with another identity gets 403 RBAC: access denied from payment-provider"
  else
    fail "a meshed pod with another identity gets 403 from payment-provider; it got: $(tr '\n' ' ' <<<"$output")"
  fi
}

check_no_sidecar_cannot_connect() {
  local output
  output=$(run_probe_pod plain-intruder false -s -o /dev/null -w "'%{http_code}'" --max-time 10 "$PAYMENT_URL_IN_MESH/payments/intruder"; true)
  if [[ "$output" == "000" || -z "$output" ]]; then
    pass "a pod without a sidecar cannot talk to payment-provider (STRICT mTLS: connection refused or reset)"
  else
    fail "a pod without a sidecar cannot talk to payment-provider; it got HTTP $output"
  fi
}

check_invoice_app_identity_is_allowed() {
  local pod status
  pod=$(kubectl -n invoice get pods -l app=invoice-app -o jsonpath='{.items[0].metadata.name}')
  status=$(kubectl -n invoice exec "$pod" -c istio-proxy -- \
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$PAYMENT_URL_IN_MESH/payments/${created_ids[0]:-I1}" || true)
  if [[ "$status" == 200 || "$status" == 404 ]]; then
    pass "invoice-app's identity reaches payment-provider (GET /payments/{id} -> $status, not 403)"
  else
    fail "invoice-app's identity reaches payment-provider: it got '$status'"
  fi
}

check_isolation() {
  require kubectl
  trap cleanup_probes EXIT
  check_gateway_does_not_route_payments
  setup_probe_namespace
  check_other_identity_is_denied
  check_no_sidecar_cannot_connect
  check_invoice_app_identity_is_allowed
}

summary_and_exit() {
  echo "test.sh: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]] && exit 0 || exit 1
}

main() {
  local flow_only=false
  case "${1:-}" in
    --flow-only) flow_only=true ;;
    "") ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown argument '$1'; see --help" >&2; exit 2 ;;
  esac
  require curl jq
  find_invoice_url
  check_flow
  if [[ "$flow_only" == true ]]; then
    echo "Isolation was not checked (--flow-only): run ./test.sh against a deployed cluster for that."
  else
    check_isolation
  fi
  summary_and_exit
}

main "$@"
