#!/usr/bin/env bash
# Runs both services on this machine without a cluster, from the built jars.
#   ./run-local.sh start    build if needed, start both, wait until ready
#   ./run-local.sh stop     stop both (SIGTERM: in-flight requests finish)
#   ./run-local.sh status   say what runs where
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT
readonly RUN_DIR="$ROOT/.work/local"
readonly INVOICE_PORT="${INVOICE_PORT:-8081}"
readonly PAYMENT_PORT="${PAYMENT_PORT:-8082}"
readonly READY_TIMEOUT_SECONDS=60
readonly MINIMUM_JAVA=21

java_command() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java" version
  version=$("$java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  if [[ -z "$version" || "${version%%.*}" -lt "$MINIMUM_JAVA" ]]; then
    echo "Java $MINIMUM_JAVA+ is needed (found '${version:-none}'): set JAVA_HOME to a JDK $MINIMUM_JAVA+ such as Temurin 25." >&2
    exit 1
  fi
  echo "$java"
}

build_if_missing() {
  if [[ ! -f "$ROOT/invoice-app/target/invoice-app.jar" || ! -f "$ROOT/payment-provider/target/payment-provider.jar" ]]; then
    echo "Building the services (./mvnw package)..."
    (cd "$ROOT" && ./mvnw -q -B -DskipTests package)
  fi
}

start_one() {
  local module=$1 port=$2 java=$3
  if [[ -f "$RUN_DIR/$module.pid" ]] && kill -0 "$(cat "$RUN_DIR/$module.pid")" 2>/dev/null; then
    echo "$module already runs (pid $(cat "$RUN_DIR/$module.pid"))"
    return
  fi
  SERVER_PORT=$port SERVER_HOST=127.0.0.1 PAYMENT_PROVIDER_URL="http://127.0.0.1:$PAYMENT_PORT" \
    "$java" -jar "$ROOT/$module/target/$module.jar" >"$RUN_DIR/$module.log" 2>&1 &
  echo $! >"$RUN_DIR/$module.pid"
  echo "started $module on http://127.0.0.1:$port (pid $!, log $RUN_DIR/$module.log)"
}

wait_ready() {
  local module=$1 port=$2 deadline=$(( $(date +%s) + READY_TIMEOUT_SECONDS ))
  until curl -fs -o /dev/null "http://127.0.0.1:$port/observe/health/ready"; do
    if ! kill -0 "$(cat "$RUN_DIR/$module.pid")" 2>/dev/null; then
      echo "$module exited during start-up; its log:" >&2
      tail -n 20 "$RUN_DIR/$module.log" >&2
      exit 1
    fi
    if (( $(date +%s) > deadline )); then
      echo "$module is not ready after ${READY_TIMEOUT_SECONDS}s; see $RUN_DIR/$module.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "$module is ready"
}

stop_one() {
  local module=$1 pid
  [[ -f "$RUN_DIR/$module.pid" ]] || return 0
  pid=$(cat "$RUN_DIR/$module.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$module did not stop within 10s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $module"
  fi
  rm -f "$RUN_DIR/$module.pid"
}

status_one() {
  local module=$1 port=$2
  if [[ -f "$RUN_DIR/$module.pid" ]] && kill -0 "$(cat "$RUN_DIR/$module.pid")" 2>/dev/null; then
    echo "$module runs on http://127.0.0.1:$port (pid $(cat "$RUN_DIR/$module.pid"))"
  else
    echo "$module is not running"
  fi
}

main() {
  mkdir -p "$RUN_DIR"
  case "${1:-}" in
    start)
      local java
      java=$(java_command)
      build_if_missing
      start_one payment-provider "$PAYMENT_PORT" "$java"
      start_one invoice-app "$INVOICE_PORT" "$java"
      wait_ready payment-provider "$PAYMENT_PORT"
      wait_ready invoice-app "$INVOICE_PORT"
      echo "Try: curl -s http://127.0.0.1:$INVOICE_PORT/invoices"
      ;;
    stop)
      stop_one invoice-app
      stop_one payment-provider
      ;;
    status)
      status_one payment-provider "$PAYMENT_PORT"
      status_one invoice-app "$INVOICE_PORT"
      ;;
    *)
      echo "usage: $0 start|stop|status" >&2
      exit 2
      ;;
  esac
}

main "$@"
