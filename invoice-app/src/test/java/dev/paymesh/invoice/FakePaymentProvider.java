package dev.paymesh.invoice;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import io.helidon.http.Status;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import dev.paymesh.support.Json;

/**
 * payment-provider's two routes over a real socket on 127.0.0.1, for tests: records each payment
 * once per id and counts every POST and every lookup per invoice id.
 */
final class FakePaymentProvider implements AutoCloseable {

    private final ConcurrentMap<String, AtomicInteger> posts = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, AtomicInteger> lookups = new ConcurrentHashMap<>();
    private final Set<String> recorded = ConcurrentHashMap.newKeySet();
    private final WebServer server;
    private volatile Duration maxDelay = Duration.ZERO;
    private volatile Consumer<String> beforeAnswer = id -> { };

    FakePaymentProvider() {
        server = WebServer.builder()
                .host("127.0.0.1")
                .port(0)
                .routing(routing -> routing
                        .post("/payments/pay", this::pay)
                        .get("/payments/{id}", this::lookUp))
                .build()
                .start();
    }

    String url() {
        return "http://127.0.0.1:" + server.port();
    }

    /** Each payment then takes a random time up to this, so concurrent runs overlap. */
    void maxDelay(Duration delay) {
        this.maxDelay = delay;
    }

    /** Runs after a payment is recorded and before it is answered. */
    void beforeAnswer(Consumer<String> action) {
        this.beforeAnswer = action;
    }

    /** A payment that reached the provider, whose answer never made it back. */
    void recordWithoutAnswer(String id) {
        posts.computeIfAbsent(id, key -> new AtomicInteger()).incrementAndGet();
        recorded.add(id);
    }

    int posts(String id) {
        AtomicInteger count = posts.get(id);
        return count == null ? 0 : count.get();
    }

    int lookups(String id) {
        AtomicInteger count = lookups.get(id);
        return count == null ? 0 : count.get();
    }

    Map<String, AtomicInteger> allPosts() {
        return Map.copyOf(posts);
    }

    boolean isRecorded(String id) {
        return recorded.contains(id);
    }

    private void pay(ServerRequest request, ServerResponse response) throws InterruptedException {
        String id;
        try (var reader = Json.reader(request.content().as(String.class))) {
            id = reader.readObject().getString("id");
        }
        posts.computeIfAbsent(id, key -> new AtomicInteger()).incrementAndGet();
        long delay = maxDelay.toMillis();
        if (delay > 0) {
            Thread.sleep(ThreadLocalRandom.current().nextLong(delay + 1));
        }
        recorded.add(id);
        beforeAnswer.accept(id);
        response.send("{\"id\":\"" + id + "\"}");
    }

    private void lookUp(ServerRequest request, ServerResponse response) {
        String id = request.path().pathParameters().get("id");
        lookups.computeIfAbsent(id, key -> new AtomicInteger()).incrementAndGet();
        if (recorded.contains(id)) {
            response.send("{\"id\":\"" + id + "\"}");
        } else {
            response.status(Status.NOT_FOUND_404).send("{\"error\":\"payment not found\"}");
        }
    }

    @Override
    public void close() {
        server.stop();
    }
}
