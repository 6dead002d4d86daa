package dev.paymesh.invoice;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.ServiceConfig;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;

/** invoice-app keeps its connections to payment-provider open between payments, and closes them when it stops. */
class PaymentClientLifecycleTest {

    @Test
    void stoppingTheServerClosesItsConnectionsToTheProvider() throws Exception {
        AtomicInteger opened = new AtomicInteger();
        java.util.concurrent.Phaser open = new java.util.concurrent.Phaser(1);
        try (ServerSocket provider = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                while (true) {
                    Socket connection;
                    try {
                        connection = provider.accept();
                    } catch (IOException e) {
                        return;
                    }
                    opened.incrementAndGet();
                    open.register();
                    Thread.ofVirtual().start(() -> {
                        try (connection) {
                            answerUntilClosed(connection);
                        } catch (IOException e) {
                            // a reset counts as closed
                        } finally {
                            open.arriveAndDeregister();
                        }
                    });
                }
            });
            WebServer server = Main.start(ServiceConfig.over(Main.class, Map.of("server.port", "0",
                    "server.host", "127.0.0.1", "payment.provider.url", "http://127.0.0.1:" + provider.getLocalPort())));
            var paid = WebClient.builder().baseUri("http://127.0.0.1:" + server.port()).build()
                    .post("/invoices/pay").request(String.class);
            assertThat(paid.entity(), paid.status(), is(Status.OK_200));
            assertThat(opened.get(), greaterThan(0));

            server.stop();

            // Every connection the provider accepted ends: the client closed its pool.
            open.awaitAdvanceInterruptibly(open.arrive(), 10, TimeUnit.SECONDS);
        }
    }

    /** Answers each payment with 200 on the same connection until the client closes it. */
    private static void answerUntilClosed(Socket connection) throws IOException {
        InputStream in = new BufferedInputStream(connection.getInputStream());
        OutputStream out = connection.getOutputStream();
        while (true) {
            StringBuilder head = new StringBuilder();
            int next;
            while (!head.toString().endsWith("\r\n\r\n")) {
                next = in.read();
                if (next == -1) {
                    return;
                }
                head.append((char) next);
            }
            int length = 0;
            for (String line : head.toString().split("\r\n")) {
                if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                    length = Integer.parseInt(line.substring("content-length:".length()).trim());
                }
            }
            in.readNBytes(length);
            byte[] body = "{\"id\":\"x\"}".getBytes(StandardCharsets.UTF_8);
            out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
        }
    }
}
