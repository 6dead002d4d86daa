package dev.paymesh.invoice;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.helidon.http.HeaderNames;
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
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

/**
 * invoice-app over a real socket, with payment-provider absent: nothing listens on the port it is
 * given, so every payment fails the way a dead provider makes it fail.
 */
@ServerTest
class InvoiceServerTest {

    /** payment.claim-lease-seconds of application.yaml. */
    private static final Duration LEASE = Duration.ofSeconds(60);

    private final Http1Client client;

    InvoiceServerTest(Http1Client client) {
        this.client = client;
    }

    @SetUpServer
    static void server(WebServerConfig.Builder server) {
        PaymentClient deadProvider = new HttpPaymentClient(new HttpPaymentClient.Settings("http://127.0.0.1:9",
                Duration.ofMillis(300), Duration.ofMillis(300), 64));
        InvoiceApp app = new InvoiceApp(InMemoryInvoiceStore.seeded(LEASE, Clock.systemUTC()), new InMemoryPayRunLog(), deadProvider,
                TestApps.payRunSettings(8, LEASE, 256), 65536,
                Metrics.globalRegistry(), "invoice-app");
        server.addFeature(Services.observe(ServiceConfig.over(Main.class, Map.of()), List.of()))
                .routing(app::routing);
    }

    @Test
    void aDeadProviderLeavesEveryInvoiceUnpaidAndIsCounted() {
        String before = client.get("/observe/metrics").request(String.class).entity();
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.BAD_GATEWAY_502));
        assertThat(response.entity(), startsWith("{\"paid\":[],\"failed\":[{\"InvoiceId\":\"I1\",\"error\":\"payment-provider unreachable"));
        assertThat(client.get("/invoices").queryParam("paid", "false").request(String.class).entity(),
                containsString("\"InvoiceId\":\"I3\""));
        String payRoute = "route=\"/invoices/pay\"";
        // A request's timer is recorded after its answer has gone out: wait until it is counted.
        String metrics = client.get("/observe/metrics").request(String.class).entity();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (sum(metrics, "http_requests_seconds_count", payRoute) == sum(before, "http_requests_seconds_count", payRoute)
                && System.nanoTime() < deadline) {
            metrics = client.get("/observe/metrics").request(String.class).entity();
        }
        // The counters exist from the start; what matters is that this run moved them.
        assertThat(sum(metrics, "payments_attempted_total", "") - sum(before, "payments_attempted_total", ""), is(3.0));
        assertThat(sum(metrics, "payments_failed_total", "") - sum(before, "payments_failed_total", ""), is(3.0));
        assertThat(sum(metrics, "payments_succeeded_total", "") - sum(before, "payments_succeeded_total", ""), is(0.0));
        assertThat(sum(metrics, "http_requests_seconds_count", payRoute)
                - sum(before, "http_requests_seconds_count", payRoute), is(1.0));
    }

    /** The sum of the Prometheus samples of {@code name} whose labels contain {@code label}. */
    static double sum(String prometheusText, String name, String label) {
        double total = 0;
        for (String line : prometheusText.split("\n")) {
            if (line.startsWith(name + " ") || (line.startsWith(name + "{") && line.contains(label))) {
                total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return total;
    }

    @Test
    void requestTimersAreTaggedWithTheRouteNotThePath() {
        client.get("/invoices").request(String.class);
        client.get("/invoices/I2").request(String.class);
        client.get("/no/such/thing").request(String.class);
        client.get("/observe/health/live").request(String.class);
        String metrics = client.get("/observe/metrics").request(String.class).entity();
        for (String route : List.of("/invoices", "/invoices/{id}", "other", "/observe")) {
            assertThat(metrics, containsString("route=\"" + route + "\""));
        }
        assertThat(metrics, not(containsString("I2")));
        assertThat(metrics, not(containsString("/no/such")));
    }

    @Test
    void hugeBodyOverTheWireIs413AndCreatesNothing() {
        String huge = "{\"InvoiceId\":\"BIG\",\"Value\":1,\"Currency\":\"EUR\",\"x\":\"" + "y".repeat(70_000) + "\"}";
        var response = client.post("/invoices").submit(huge, String.class);
        assertThat(response.status(), is(Status.REQUEST_ENTITY_TOO_LARGE_413));
        assertThat(response.entity(), startsWith("{\"error\":"));
        assertThat(client.get("/invoices/BIG").request(String.class).status(), is(Status.NOT_FOUND_404));
    }

    @Test
    void aClientFollowingTheNextLinksOverTheWireReadsEveryInvoiceOnce() {
        // The store is shared by this class's tests, which only ever hold the seed: I1, I2 and I3.
        List<String> pages = new ArrayList<>();
        String next = "/invoices?limit=1";
        while (next != null) {
            var request = client.get(next.substring(0, next.indexOf('?')));
            InvoiceRoutingTest.queryParameters(next.substring(next.indexOf('?') + 1))
                    .forEach((name, values) -> request.queryParam(name, values.toArray(String[]::new)));
            var response = request.request(String.class);
            assertThat(response.status(), is(Status.OK_200));
            pages.add(response.entity());
            next = response.headers().first(HeaderNames.LINK)
                    .map(link -> link.substring(link.indexOf('<') + 1, link.indexOf(">; rel=\"next\"")))
                    .orElse(null);
            assertThat("a client that follows the links stops", pages.size() <= 3, is(true));
        }
        assertThat(String.join("", pages).replace("][", ","), is(client.get("/invoices").request(String.class).entity()));
    }

    @Test
    void healthEndpointsAnswerWithoutTheProvider() {
        for (String path : List.of("/observe/health/live", "/observe/health/ready", "/observe/health/started")) {
            var status = client.get(path).request(String.class).status();
            assertThat(path + " answered " + status, status.code() / 100, is(2));
        }
    }
}
