# The image of either service, built from the repository root with the service's module name:
#   docker build --build-arg SERVICE=invoice-app -t paymesh/invoice-app:1.0.0 .
#   docker build --build-arg SERVICE=payment-provider -t paymesh/payment-provider:1.0.0 .
# The service listens on its own server.port (application.yaml: invoice-app 8081,
# payment-provider 8082), which the manifests' containerPort names.
# BUILD_IMAGE compiles the service and links a small Java runtime; RUNTIME_IMAGE only carries it.
ARG BUILD_IMAGE=eclipse-temurin:25.0.4_7-jdk-noble@sha256:264fafc3390db78c93dc51da0109a0d66ad1fb59f7a893f12b7e3df1f15e52da
ARG RUNTIME_IMAGE=debian:bookworm-20260918-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${BUILD_IMAGE} AS build
ARG SERVICE
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
RUN case "${SERVICE}" in invoice-app | payment-provider) ;; \
      *) echo "build with --build-arg SERVICE=invoice-app or SERVICE=payment-provider (got '${SERVICE}')" >&2; exit 1 ;; \
    esac
WORKDIR /build
# Maven, the plugins and the dependencies first, in a layer of their own: a change to the sources
# reuses it and downloads nothing. The reactor needs every module's pom. Packaging the module
# without its sources resolves exactly what the real build uses (dependency:go-offline misses
# some), so the build below runs offline.
COPY mvnw pom.xml ./
COPY .mvn/ .mvn/
COPY service-support/pom.xml service-support/
COPY invoice-app/pom.xml invoice-app/
COPY payment-provider/pom.xml payment-provider/
COPY system-tests/pom.xml system-tests/
# invoice-app's training run (below) pays through a real payment-provider: it is built here too.
RUN modules="${SERVICE}"; [[ "${SERVICE}" != invoice-app ]] || modules=invoice-app,payment-provider; \
    ./mvnw -B -ntp -pl "${modules}" -am -DskipTests package \
    && rm -rf invoice-app/target payment-provider/target service-support/target
COPY service-support/src/ service-support/src/
COPY invoice-app/src/ invoice-app/src/
COPY payment-provider/src/ payment-provider/src/
# The jar under one name whatever the service, so the steps below and the entry point take no
# argument; /peer holds the payment-provider invoice-app's training pays through (empty otherwise).
RUN modules="${SERVICE}"; [[ "${SERVICE}" != invoice-app ]] || modules=invoice-app,payment-provider; \
    ./mvnw -B -ntp -o -pl "${modules}" -am -DskipTests package \
    && mkdir /app /peer \
    && cp -r "${SERVICE}/target/libs" /app/ \
    && cp "${SERVICE}/target/${SERVICE}.jar" /app/service.jar \
    && if [[ "${SERVICE}" == invoice-app ]]; then \
         cp -r payment-provider/target/libs /peer/ && cp payment-provider/target/payment-provider.jar /peer/service.jar; \
       fi
# Only the modules the service and its libraries use (jdeps over the jar and target/libs):
# java.sql, java.naming and java.security.jgss for the PostgreSQL driver and HikariCP,
# jdk.management and jdk.unsupported for the metrics libraries.
RUN jlink --add-modules java.base,java.logging,java.management,jdk.management,java.naming,java.sql,java.security.jgss,jdk.unsupported \
    --strip-debug --no-man-pages --no-header-files --compress zip-6 --output /opt/runtime

FROM ${RUNTIME_IMAGE} AS runtime
ARG SERVICE
ENV JAVA_HOME=/opt/java \
    PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# A numbered user, so the kubelet can verify runAsNonRoot against the image alone.
RUN groupadd --gid 10001 "${SERVICE}" \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin "${SERVICE}"
COPY --from=build /opt/runtime /opt/java
# Libraries change less often than the service's own jar: separate layers.
COPY --from=build /app/libs /app/libs
COPY --from=build /app/service.jar /app/
# The JVM flags, one file for the entry point, the training run below and bench/run.sh.
COPY jvm.args /app/
WORKDIR /app
# An ahead-of-time cache (JDK 25) made by a training run of this very runtime and jar, in a stage
# of its own so that the image keeps only the cache: the service starts in about half the time,
# and what the training ran hot is compiled from its recorded profiles soon after the start. The
# run, on port 8080 (the port does not matter to the cache), calls every endpoint as clients do,
# 50 times: payment-provider records payments, new and replayed, one by one and in batches, and
# looks them up, known and unknown; invoice-app creates, lists and looks up invoices and runs pay
# runs. Then the volume a pay run has: payment-provider records about 3,000 more payments in
# batches of 64, as invoice-app sends them; invoice-app gets 3,000 invoices and pays them in one
# run, through the payment-provider built beside it (plain, on port 8082), so its client's whole
# path is in the profiles. It runs with the in-memory store (there is no database in an image
# build), so the pool, the driver and the migrations are not in the cache and load from the jar in
# a pod. Then health and metrics, and it stops.
FROM runtime AS training
ARG SERVICE
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
COPY --from=build /peer/ /peer/
RUN peer=""; \
    if [[ "${SERVICE}" == invoice-app ]]; then \
        SERVER_PORT=8082 java @/app/jvm.args -jar /peer/service.jar >/tmp/peer.log 2>&1 & peer=$!; \
    fi; \
    SERVER_PORT=8080 PAYMENT_PROVIDER_URL=http://127.0.0.1:8082 \
        java @/app/jvm.args -XX:AOTCacheOutput=/app/service.aot -jar /app/service.jar \
        >/tmp/training.log 2>&1 & service=$!; \
    call() { (exec 3<>"/dev/tcp/127.0.0.1/${5:-8080}" \
        && printf '%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
           "$1" "$2" "${#3}" "$3" >&3 \
        && head -n 1 <&3 | grep -Eq " ($4) "); }; \
    ready() { for _ in $(seq 1 120); do call GET /observe/health/ready "" 200 "$1" 2>/dev/null && return; sleep 0.5; done; \
        echo "nothing ready on port $1" >&2; cat /tmp/training.log /tmp/peer.log 2>/dev/null; exit 1; }; \
    train() { \
        case "${SERVICE}" in \
          invoice-app) \
            call POST /invoices "{\"InvoiceId\":\"T$1\",\"Value\":1.50,\"Currency\":\"EUR\"}" 201 \
              && call GET "/invoices/T$1" "" 200 && call GET "/invoices?paid=false" "" 200 \
              && call GET /invoices "" 200 && call POST /invoices/pay "" 200 ;; \
          payment-provider) \
            call POST /payments/pay "{\"id\":\"T$1\",\"value\":1.50,\"currency\":\"EUR\"}" 200 \
              && call POST /payments/pay "{\"id\":\"T$1\",\"value\":1.50,\"currency\":\"EUR\"}" 200 \
              && call GET "/payments/T$1" "" 200 && call GET "/payments/none-$1" "" 404 \
              && call POST /payments/pay/batch "[]" 400 \
              && call POST /payments/pay/batch "[{\"id\":\"T$1\",\"value\":1.50,\"currency\":\"EUR\"},{\"id\":\"B$1\",\"value\":2,\"currency\":\"EUR\"}]" 200 ;; \
        esac; }; \
    volume() { \
        case "${SERVICE}" in \
          invoice-app) call POST /invoices "{\"InvoiceId\":\"V$1\",\"Value\":10.00,\"Currency\":\"EUR\"}" 201 ;; \
          payment-provider) \
            (( $1 % 64 == 0 )) || return 0; \
            batch=""; for j in $(seq $(( $1 - 63 )) "$1"); do \
                batch+="${batch:+,}{\"id\":\"V$j\",\"value\":10.00,\"currency\":\"EUR\"}"; done; \
            call POST /payments/pay/batch "[${batch}]" 200 ;; \
        esac; }; \
    [[ -z "${peer}" ]] || ready 8082; \
    ready 8080; \
    for i in $(seq 1 50); do train "$i" || { echo "training call $i failed" >&2; cat /tmp/training.log; exit 1; }; done; \
    for i in $(seq 1 3000); do volume "$i" || { echo "training volume call $i failed" >&2; cat /tmp/training.log; exit 1; }; done; \
    { [[ "${SERVICE}" != invoice-app ]] || call POST /invoices/pay "" 200; } \
        && call GET /observe/health/ready "" 200 && call GET /observe/metrics "" 200 \
        || { cat /tmp/training.log; exit 1; }; \
    kill -TERM "$service"; wait "$service" || true; \
    [[ -z "${peer}" ]] || { kill -TERM "$peer"; wait "$peer" || true; }; \
    test -s /app/service.aot || { cat /tmp/training.log; exit 1; }; \
    rm -f /tmp/training.log /tmp/peer.log

FROM runtime
COPY --from=training /app/service.aot /app/
USER 10001:10001
# jvm.args (repository root) says why each flag: G1 named, the heap at a quarter of
# the container's memory limit, malloc's free memory given back, exit on OutOfMemoryError.
ENTRYPOINT ["java", "@/app/jvm.args", "-XX:AOTCache=/app/service.aot", "-jar", "/app/service.jar"]
