package dev.paymesh.invoice;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Currency;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

import io.helidon.http.HeaderNames;
import io.helidon.http.ServerRequestHeaders;
import io.helidon.http.Status;
import io.helidon.http.WritableHeaders;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.instanceOf;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.startsWith;

/** How the real HTTP client classifies each kind of answer, against real servers on 127.0.0.1. */
class HttpPaymentClientTest {

    private static final Invoice INVOICE = new Invoice("I9", new BigDecimal("1.50"), Currency.getInstance("EUR"),
            Invoice.State.PAYING);
    private static final ServerRequestHeaders NO_HEADERS = ServerRequestHeaders.create(WritableHeaders.create());

    private static HttpPaymentClient client(int port) {
        return client(port, System::nanoTime);
    }

    private static HttpPaymentClient client(int port, LongSupplier clock) {
        return new HttpPaymentClient(new HttpPaymentClient.Settings("http://127.0.0.1:" + port,
                Duration.ofSeconds(2), Duration.ofSeconds(5), 64), clock);
    }

    private static Invoice invoice(String id) {
        return new Invoice(id, new BigDecimal("2.50"), Currency.getInstance("EUR"), Invoice.State.PAYING);
    }

    /**
     * A provider whose batch answers as scripted, and whose single payments answer 200; the empty
     * batch a client asks with first gets {@code askedStatus}, which a test may change. It counts
     * the question, the batches and the single payments.
     */
    private record Provider(WebServer server, AtomicInteger asked, AtomicInteger batches, AtomicInteger singles,
                            StringBuilder batchBody, AtomicInteger askedStatus) {

        static Provider start(int askedStatus, int batchStatus, String batchAnswer) {
            AtomicInteger answerAsked = new AtomicInteger(askedStatus);
            AtomicInteger asked = new AtomicInteger();
            AtomicInteger batches = new AtomicInteger();
            AtomicInteger singles = new AtomicInteger();
            StringBuilder batchBody = new StringBuilder();
            WebServer server = WebServer.builder().host("127.0.0.1").port(0)
                    .routing(routing -> routing
                            .post("/payments/pay/batch", (request, response) -> {
                                String body = request.content().as(String.class);
                                boolean question = body.equals("[]");
                                (question ? asked : batches).incrementAndGet();
                                if (!question) {
                                    batchBody.append(body);
                                }
                                response.status(Status.create(question ? answerAsked.get() : batchStatus))
                                        .header(HeaderNames.CONTENT_TYPE, "application/json")
                                        .send(question ? "{\"error\":\"scripted\"}" : batchAnswer);
                            })
                            .post("/payments/pay", (request, response) -> {
                                singles.incrementAndGet();
                                request.content().consume();
                                response.header(HeaderNames.CONTENT_TYPE, "application/json").send("{\"id\":\"x\"}");
                            }))
                    .build().start();
            return new Provider(server, asked, batches, singles, batchBody, answerAsked);
        }
    }

    @Test
    void aBatchIsOneRequestAndEachElementIsReadAsASingleAnswerWouldBe() {
        Provider provider = Provider.start(400, 200, "[{\"id\":\"A1\",\"status\":200},"
                + "{\"id\":\"A2\",\"status\":409,\"error\":\"payment A2 was already made with another value or currency\"},"
                + "{\"id\":\"A3\",\"status\":503,\"error\":\"payment store unavailable\"},"
                + "{\"id\":\"A4\",\"status\":400,\"error\":\"payment value must be positive\"}]");
        try (HttpPaymentClient client = client(provider.server().port())) {
            assertThat(client.batchLimit(), is(64));
            var results = client.payAll(List.of(invoice("A1"), invoice("A2"), invoice("A3"), invoice("A4")), NO_HEADERS);
            assertThat(provider.asked().get(), is(1));
            assertThat(provider.batches().get(), is(1));
            assertThat(provider.singles().get(), is(0));
            assertThat(provider.batchBody().toString(), is("[{\"id\":\"A1\",\"value\":2.50,\"currency\":\"EUR\"},"
                    + "{\"id\":\"A2\",\"value\":2.50,\"currency\":\"EUR\"},"
                    + "{\"id\":\"A3\",\"value\":2.50,\"currency\":\"EUR\"},"
                    + "{\"id\":\"A4\",\"value\":2.50,\"currency\":\"EUR\"}]"));
            assertThat(results.get(0), is(new PaymentClient.Result.Paid()));
            // The same reasons a single POST /payments/pay answering that status and error gives.
            assertThat(results.get(1), is(new PaymentClient.Result.Refused("payment-provider answered 409: "
                    + "{\"error\":\"payment A2 was already made with another value or currency\"}")));
            assertThat(results.get(2), is(new PaymentClient.Result.Unknown(
                    "payment-provider answered 503: {\"error\":\"payment store unavailable\"}")));
            assertThat(results.get(3), is(new PaymentClient.Result.Refused(
                    "payment-provider answered 400: {\"error\":\"payment value must be positive\"}")));
            assertThat("asked once", client.batchLimit(), is(64));
            assertThat(provider.asked().get(), is(1));
        } finally {
            provider.server().stop();
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            // a whole-request error is about no one payment: none is refused for it
            "400|{\"error\":\"a payment batch holds 1 to 1000 payments, got 2\"}",
            "500|{\"error\":\"internal error\"}",
            "503|{\"error\":\"payment store unavailable\"}",
            // an answer that does not match the batch element by element
            "200|[{\"id\":\"A1\",\"status\":200}]",
            "200|[{\"id\":\"A2\",\"status\":200},{\"id\":\"A1\",\"status\":200}]",
            "200|[{\"id\":\"A1\",\"status\":200},{\"id\":\"A2\"}]",
            "200|{\"id\":\"A1\"}",
            "200|not json"})
    void aBatchAnsweredAsAWholeOrNotElementByElementLeavesEveryOutcomeUnknown(int status, String answer) {
        Provider provider = Provider.start(400, status, answer);
        try (HttpPaymentClient client = client(provider.server().port())) {
            assertThat(client.batchLimit(), is(64));
            var results = client.payAll(List.of(invoice("A1"), invoice("A2")), NO_HEADERS);
            assertThat(results.size(), is(2));
            results.forEach(result -> assertThat(result, instanceOf(PaymentClient.Result.Unknown.class)));
            assertThat(provider.batches().get(), is(1));
            assertThat(provider.singles().get(), is(0));
            assertThat(client.batchLimit(), is(64));
        } finally {
            provider.server().stop();
        }
    }

    @ParameterizedTest
    @CsvSource({"404", "405", "403"})
    void aProviderWithoutTheBatchIsAskedOnceAndPaidOneInvoicePerRequest(int status) {
        Provider provider = Provider.start(status, 200, "[]");
        try (HttpPaymentClient client = client(provider.server().port())) {
            assertThat(client.batchLimit(), is(1));
            var results = client.payAll(List.of(invoice("A1"), invoice("A2"), invoice("A3")), NO_HEADERS);
            assertThat(results, is(List.of(new PaymentClient.Result.Paid(), new PaymentClient.Result.Paid(),
                    new PaymentClient.Result.Paid())));
            assertThat(client.batchLimit(), is(1));
            assertThat(provider.asked().get(), is(1));
            assertThat(provider.batches().get(), is(0));
            assertThat(provider.singles().get(), is(3));
        } finally {
            provider.server().stop();
        }
    }

    @Test
    void aBatchAnswered404ChargedNothingAndLaterInvoicesArePaidOneByOne() {
        Provider provider = Provider.start(400, 404, "{\"error\":\"not found\"}");
        try (HttpPaymentClient client = client(provider.server().port())) {
            assertThat(client.batchLimit(), is(64));
            var results = client.payAll(List.of(invoice("A1"), invoice("A2")), NO_HEADERS);
            results.forEach(result -> assertThat(result, instanceOf(PaymentClient.Result.NotPaid.class)));
            assertThat(client.batchLimit(), is(1));
            assertThat(provider.singles().get(), is(0));
        } finally {
            provider.server().stop();
        }
    }

    /**
     * A rolling upgrade: the first answer came from a payment-provider without batches, the pods
     * after it take them. The client asks again once {@link HttpPaymentClient#ASK_AGAIN_AFTER} has
     * passed on its clock, not before, and then sends batches.
     */
    @ParameterizedTest
    @CsvSource({"true", "false"})
    void aProviderWithoutBatchesIsAskedAgainAfterAWhile(boolean learnedFromABatch) {
        Provider provider = Provider.start(learnedFromABatch ? 400 : 404, 404, "{\"error\":\"not found\"}");
        AtomicLong now = new AtomicLong(Long.MAX_VALUE - 1_000);
        long wait = HttpPaymentClient.ASK_AGAIN_AFTER.toNanos();
        try (HttpPaymentClient client = client(provider.server().port(), now::get)) {
            if (learnedFromABatch) {
                assertThat(client.batchLimit(), is(64));
                client.payAll(List.of(invoice("A1"), invoice("A2")), NO_HEADERS);
                assertThat(provider.batches().get(), is(1));
            }
            assertThat(client.batchLimit(), is(1));
            int asked = provider.asked().get();
            provider.askedStatus().set(400);
            // The clock may wrap around between the two readings: only their difference counts.
            now.addAndGet(wait - 1);
            assertThat("not asked before its time", client.batchLimit(), is(1));
            assertThat(provider.asked().get(), is(asked));
            now.incrementAndGet();
            assertThat(client.batchLimit(), is(64));
            assertThat(provider.asked().get(), is(asked + 1));
            now.addAndGet(wait * 10);
            assertThat("a provider that takes batches is not asked again", client.batchLimit(), is(64));
            assertThat(provider.asked().get(), is(asked + 1));
        } finally {
            provider.server().stop();
        }
    }

    @Test
    void aFailingProviderIsAskedAgainAndPaidOneByOneMeanwhile() {
        Provider provider = Provider.start(503, 200, "[]");
        try (HttpPaymentClient client = client(provider.server().port())) {
            assertThat(client.batchLimit(), is(1));
            assertThat(client.batchLimit(), is(1));
            assertThat(provider.asked().get(), is(2));
        } finally {
            provider.server().stop();
        }
    }

    @Test
    void anUnreachableProviderIsAskedAgainAndPaidOneByOneMeanwhile() throws IOException {
        try (HttpPaymentClient client = client(closedPort())) {
            assertThat(client.batchLimit(), is(1));
            assertThat(client.batchLimit(), is(1));
        }
    }

    @Test
    void aBatchToAProviderNeverConnectedToChargedNothing() throws IOException {
        try (HttpPaymentClient client = client(closedPort())) {
            var results = client.payAll(List.of(invoice("A1"), invoice("A2")), NO_HEADERS);
            results.forEach(result -> assertThat(result, instanceOf(PaymentClient.Result.NotPaid.class)));
        }
    }

    @ParameterizedTest
    @CsvSource({
            "200, Paid",
            "500, Unknown",
            "502, Unknown",
            "503, Unknown",
            "408, Unknown",
            "429, Unknown",
            "400, Refused",
            "409, Refused",
    })
    void eachAnswerIsClassified(int status, String expected) {
        AtomicInteger posts = new AtomicInteger();
        WebServer server = WebServer.builder().host("127.0.0.1").port(0)
                .routing(routing -> routing.post("/payments/pay", (request, response) -> {
                    posts.incrementAndGet();
                    response.status(Status.create(status)).header(HeaderNames.CONTENT_TYPE, "application/json")
                            .send("{\"error\":\"scripted\"}");
                }))
                .build().start();
        try {
            PaymentClient.Result result = client(server.port()).pay(INVOICE, NO_HEADERS);
            assertThat(result.getClass().getSimpleName(), is(expected));
            assertThat("sent once", posts.get(), is(1));
            if (status != 200) {
                assertThat(reason(result), startsWith("payment-provider answered " + status + ": {\"error\":\"scripted\"}"));
            }
        } finally {
            server.stop();
        }
    }

    @Test
    void onlyAConnectionNeverMadeMeansNothingWasCharged() throws IOException {
        int closedPort = closedPort();
        PaymentClient.Result result = client(closedPort).pay(INVOICE, NO_HEADERS);
        assertThat(result, instanceOf(PaymentClient.Result.NotPaid.class));
        assertThat(reason(result), startsWith("payment-provider unreachable at http://127.0.0.1:" + closedPort));
    }

    @Test
    void aConnectionLostAfterSendingIsUnknownAndSentOnceMoreAtMost() throws Exception {
        AtomicInteger requests = new AtomicInteger();
        try (ServerSocket socket = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            Thread acceptor = Thread.ofVirtual().start(() -> {
                while (true) {
                    try (Socket connection = socket.accept()) {
                        readHead(connection.getInputStream());
                        requests.incrementAndGet();
                        // the request arrived; the connection ends without a byte of answer
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            PaymentClient.Result result = client(socket.getLocalPort()).pay(INVOICE, NO_HEADERS);
            assertThat(result, instanceOf(PaymentClient.Result.Unknown.class));
            assertThat(reason(result), startsWith("payment-provider connection failed after the payment was sent"));
            assertThat("the first attempt and one resend on a new connection", requests.get(), is(2));
            socket.close();
            acceptor.join();
        }
    }

    private static void readHead(InputStream in) throws IOException {
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        int next;
        while (matched < end.length && (next = in.read()) != -1) {
            matched = next == end[matched] ? matched + 1 : (next == '\r' ? 1 : 0);
        }
    }

    private static String reason(PaymentClient.Result result) {
        return switch (result) {
            case PaymentClient.Result.Paid ignored -> "paid";
            case PaymentClient.Result.NotPaid notPaid -> notPaid.reason();
            case PaymentClient.Result.Unknown unknown -> unknown.reason();
            case PaymentClient.Result.Refused refused -> refused.reason();
        };
    }

    /** A port on 127.0.0.1 that was just free: nothing listens there. */
    private static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
