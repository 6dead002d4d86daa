package dev.paymesh.payment;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import io.helidon.http.Status;
import io.helidon.metrics.api.Metrics;
import io.helidon.webclient.http1.Http1Client;
import io.helidon.webserver.WebServerConfig;
import io.helidon.webserver.testing.junit5.ServerTest;
import io.helidon.webserver.testing.junit5.SetUpServer;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.ServiceConfig;
import dev.paymesh.support.Services;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.startsWith;

/** The service over a real socket: limits, concurrency and the observe endpoints. */
@ServerTest
class PaymentServerTest {

    private static final InMemoryPaymentStore STORE = new InMemoryPaymentStore();

    private final Http1Client client;

    PaymentServerTest(Http1Client client) {
        this.client = client;
    }

    @SetUpServer
    static void server(WebServerConfig.Builder server) {
        server.addFeature(Services.observe(ServiceConfig.over(Main.class, Map.of()), List.of()))
                .routing(new PaymentApp(STORE, 65536, Metrics.globalRegistry())::routing);
    }

    @Test
    void hugeBodyIsRefusedWith413() {
        String huge = "{\"id\":\"H1\",\"value\":1,\"currency\":\"EUR\",\"pad\":\"" + "x".repeat(70_000) + "\"}";
        var response = client.post("/payments/pay").submit(huge, String.class);
        assertThat(response.status(), is(Status.REQUEST_ENTITY_TOO_LARGE_413));
        assertThat(response.entity(), startsWith("{\"error\":"));
        assertThat(STORE.find("H1").isPresent(), is(false));
    }

    @Test
    void concurrentIdenticalPaymentsAreRecordedOnce() throws Exception {
        long recordedBefore = PaymentRoutingTest.payments("recorded");
        long alreadyBefore = PaymentRoutingTest.payments("already_recorded");
        int callers = 16;
        List<Callable<Status>> calls = new ArrayList<>();
        for (int i = 0; i < callers; i++) {
            calls.add(() -> client.post("/payments/pay")
                    .submit("{\"id\":\"R1\",\"value\":3.50,\"currency\":\"EUR\"}", String.class).status());
        }
        List<Status> statuses = new ArrayList<>();
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Future<Status> future : executor.invokeAll(calls)) {
                statuses.add(future.get());
            }
        }
        assertThat(statuses, everyItem(is(Status.OK_200)));
        assertThat(STORE.find("R1").orElseThrow().value().toPlainString(), is("3.50"));
        // One charge; the fifteen others were replays that charged nothing.
        assertThat(PaymentRoutingTest.payments("recorded") - recordedBefore, is(1L));
        assertThat(PaymentRoutingTest.payments("already_recorded") - alreadyBefore, is((long) callers - 1));
    }

    @Test
    void malformedJsonOverTheWire() {
        var response = client.post("/payments/pay").submit("{\"id\":\"I1\",", String.class);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), is("{\"error\":\"failed to process payment request parameters\"}"));
    }

    @Test
    void metricsArePrometheusTextWithPerRouteTimers() throws InterruptedException {
        String payRoute = "route=\"/payments/pay\"";
        String before = metricsOnceSettled("http_requests_seconds_count", payRoute);
        client.post("/payments/pay").submit("{\"id\":\"M1\",\"value\":1,\"currency\":\"EUR\"}", String.class);
        client.post("/payments/pay").submit("{\"id\":\"M1\",\"value\":1,\"currency\":\"EUR\"}", String.class);
        client.post("/payments/pay").submit("{\"id\":\"M1\",\"value\":2,\"currency\":\"EUR\"}", String.class);
        String after = metricsOnceCounted(before, "http_requests_seconds_count", payRoute, 3);
        assertThat(sum(after, "http_requests_seconds_count", payRoute)
                - sum(before, "http_requests_seconds_count", payRoute), is(3.0));
        assertThat("the timers keep a sum per route", sum(after, "http_requests_seconds_sum", payRoute)
                > sum(before, "http_requests_seconds_sum", payRoute), is(true));
        assertThat("no client-side percentiles, recorded per request", after.lines()
                .filter(line -> line.startsWith("http_requests_seconds{") && line.contains("quantile=")).toList(), is(List.of()));
        for (var expected : Map.of("recorded", 1.0, "already_recorded", 1.0, "conflict", 1.0).entrySet()) {
            String outcome = "outcome=\"" + expected.getKey() + "\"";
            assertThat(expected.getKey(), sum(after, "payments_total", outcome) - sum(before, "payments_total", outcome),
                    is(expected.getValue()));
        }
    }

    /**
     * The metrics once {@code name} has moved by {@code expected} since {@code before}, or after
     * ten seconds. A request's timer is recorded after its answer has gone out, so the client can
     * ask for the metrics before the server has counted the request it just answered.
     */
    private String metricsOnceCounted(String before, String name, String label, double expected) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            var response = client.get("/observe/metrics").request(String.class);
            assertThat(response.status(), is(Status.OK_200));
            String metrics = response.entity();
            if (sum(metrics, name, label) - sum(before, name, label) >= expected || System.nanoTime() > deadline) {
                return metrics;
            }
            Thread.onSpinWait();
        }
    }

    /**
     * The metrics once {@code name} has stopped moving: two reads 50 ms apart that agree, or the
     * last of twenty. The request another test made just before may still be counted after its
     * answer, and would then be counted as this test's.
     */
    private String metricsOnceSettled(String name, String label) throws InterruptedException {
        String previous = client.get("/observe/metrics").request(String.class).entity();
        for (int i = 0; i < 20; i++) {
            Thread.sleep(50);
            String metrics = client.get("/observe/metrics").request(String.class).entity();
            if (sum(metrics, name, label) == sum(previous, name, label)) {
                return metrics;
            }
            previous = metrics;
        }
        return previous;
    }

    /** The sum of the Prometheus samples of {@code name} whose labels contain {@code label}. */
    private static double sum(String prometheusText, String name, String label) {
        double total = 0;
        for (String line : prometheusText.split("\n")) {
            if (line.startsWith(name + "{") && line.contains(label)) {
                total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return total;
    }

    @Test
    void healthEndpointsAnswer() {
        for (String path : List.of("/observe/health/live", "/observe/health/ready", "/observe/health/started")) {
            var status = client.get(path).request(String.class).status();
            assertThat(path + " answered " + status, status.code() / 100, is(2));
        }
    }
}
