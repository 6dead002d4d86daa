package dev.paymesh.system;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;
import io.helidon.http.Status;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * A real HTTP hop in front of the real payment-provider that can fail on purpose: answer 500 without
 * forwarding, or forward and then answer late, a single payment and a batch alike. It counts every
 * payment POST and every lookup per invoice as they arrive, before any fault, and records the headers
 * of the payments and lookups it forwarded.
 */
final class FaultInjectingProxy implements AutoCloseable {

    enum Mode { PASS, FAIL_500, SLOW }

    private final WebClient provider;
    private final WebServer server;
    private final List<Headers> forwardedHeaders = new CopyOnWriteArrayList<>();
    private final ConcurrentMap<String, AtomicInteger> paymentPosts = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, AtomicInteger> lookups = new ConcurrentHashMap<>();
    private final AtomicInteger batches = new AtomicInteger();
    private volatile Mode mode = Mode.PASS;
    private volatile Duration delay = Duration.ZERO;

    FaultInjectingProxy(int providerPort, int port) {
        this.provider = WebClient.builder().baseUri("http://127.0.0.1:" + providerPort).build();
        this.server = WebServer.builder()
                .host("127.0.0.1")
                .port(port)
                .routing(routing -> routing.any(this::handle))
                .build()
                .start();
    }

    int port() {
        return server.port();
    }

    void mode(Mode newMode, Duration newDelay) {
        mode = newMode;
        delay = newDelay;
    }

    List<Headers> forwardedHeaders() {
        return forwardedHeaders;
    }

    /** Every payment POST for the invoice that arrived here, the ones failed on purpose included. */
    int paymentPostsFor(String id) {
        AtomicInteger count = paymentPosts.get(id);
        return count == null ? 0 : count.get();
    }

    /** Every {@code POST /payments/pay/batch} that carried payments. */
    int batches() {
        return batches.get();
    }

    /** Every {@code GET /payments/{id}} for the invoice. */
    int lookupsFor(String id) {
        AtomicInteger count = lookups.get(id);
        return count == null ? 0 : count.get();
    }

    private void handle(ServerRequest request, ServerResponse response) throws InterruptedException {
        String path = request.path().path();
        String body = request.content().hasEntity() ? request.content().as(String.class) : "";
        // The faults are for payments: the empty batch invoice-app asks with first carries none.
        boolean isPayment = PaymentBodies.pays(path) && !PaymentBodies.ids(body).isEmpty();
        if (isPayment) {
            if (path.endsWith("/batch")) {
                batches.incrementAndGet();
            }
            for (String id : PaymentBodies.ids(body)) {
                paymentPosts.computeIfAbsent(id, ignored -> new AtomicInteger()).incrementAndGet();
            }
        } else if (path.startsWith("/payments/") && !PaymentBodies.pays(path)) {
            lookups.computeIfAbsent(path.substring("/payments/".length()), ignored -> new AtomicInteger())
                    .incrementAndGet();
        }
        if (isPayment && mode == Mode.FAIL_500) {
            response.status(Status.INTERNAL_SERVER_ERROR_500).send("{\"error\":\"injected failure\"}");
            return;
        }
        if (isPayment || !PaymentBodies.pays(path)) {
            forwardedHeaders.add(request.headers());
        }
        var outgoing = provider.method(request.prologue().method()).path(request.path().path());
        request.headers().first(HeaderNames.create("x-request-id"))
                .ifPresent(value -> outgoing.header(HeaderNames.create("x-request-id"), value));
        try (HttpClientResponse answer = body.isEmpty()
                ? outgoing.request()
                : outgoing.contentType(MediaTypes.APPLICATION_JSON).submit(body)) {
            String entity = answer.as(String.class);
            if (isPayment && mode == Mode.SLOW) {
                Thread.sleep(delay.toMillis());
            }
            response.status(answer.status()).header(HeaderNames.CONTENT_TYPE, "application/json").send(entity);
        }
    }

    @Override
    public void close() {
        server.stop();
    }
}
