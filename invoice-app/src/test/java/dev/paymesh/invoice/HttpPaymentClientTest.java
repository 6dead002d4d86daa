package dev.paymesh.invoice;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Currency;
import java.util.concurrent.atomic.AtomicInteger;

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
        return new HttpPaymentClient(new HttpPaymentClient.Settings("http://127.0.0.1:" + port,
                Duration.ofSeconds(2), Duration.ofSeconds(5)));
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
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = socket.getLocalPort();
        }
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
}
