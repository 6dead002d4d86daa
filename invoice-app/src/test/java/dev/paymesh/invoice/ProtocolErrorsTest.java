package dev.paymesh.invoice;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;

import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.paymesh.support.ServiceConfig;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.endsWith;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.startsWith;

/**
 * Requests Helidon itself refuses, or that break off, written byte by byte on a raw socket to the
 * real server: each gets its own 4xx, and none is logged as a warning with a stack trace.
 */
class ProtocolErrorsTest {

    private static WebServer server;

    @BeforeAll
    static void start() {
        server = Main.start(ServiceConfig.over(Main.class, Map.of(
                "server.port", "0", "server.host", "127.0.0.1", "payment.provider.url", "http://127.0.0.1:9")));
    }

    @AfterAll
    static void stop() {
        server.stop();
    }

    /** Writes the bytes, then reads one answer: its head, and a body as long as it says. */
    private static String exchange(String request) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout((int) Duration.ofSeconds(20).toMillis());
            socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            InputStream in = socket.getInputStream();
            try {
                int read;
                while ((read = in.read()) >= 0) {
                    answer.write(read);
                    String text = answer.toString(StandardCharsets.ISO_8859_1);
                    int head = text.indexOf("\r\n\r\n");
                    if (head >= 0 && text.length() - head - 4 >= contentLength(text.substring(0, head))) {
                        break;
                    }
                }
            } catch (SocketTimeoutException e) {
                throw new AssertionError("no whole answer within 20 s: " + answer, e);
            }
            return answer.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static int contentLength(String head) {
        for (String line : head.split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                return Integer.parseInt(line.substring("content-length:".length()).strip());
            }
        }
        return 0;
    }

    private static List<String> warnings(CapturedLog log) {
        return log.records("", Level.WARNING).stream().map(log::message).toList();
    }

    @Test
    void aBodyFramedWronglyIs400InJsonNotA500() throws IOException {
        try (CapturedLog log = CapturedLog.open()) {
            String answer = exchange("POST /invoices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n");
            assertThat(answer, startsWith("HTTP/1.1 400 Bad Request\r\n"));
            assertThat(answer, endsWith("\r\n\r\n{\"error\":\"the request body could not be read to its end\"}"));
            assertThat(warnings(log), is(empty()));
        }
    }

    @Test
    void aClientGoneInTheMiddleOfItsBodyIsA400LoggedQuietly() throws Exception {
        try (CapturedLog log = CapturedLog.open()) {
            try (Socket socket = new Socket("127.0.0.1", server.port())) {
                socket.getOutputStream().write(("POST /invoices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 100\r\n\r\n{\"Value\":").getBytes(StandardCharsets.ISO_8859_1));
                socket.getOutputStream().flush();
            }
            // The access log's line for it is the sign the server is done with it.
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (log.records("dev.paymesh.access", Level.INFO).isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            List<String> access = log.records("dev.paymesh.access", Level.INFO).stream().map(log::message).toList();
            assertThat(access.size(), is(1));
            assertThat(access.getFirst(), org.hamcrest.Matchers.containsString(" POST /invoices 400 "));
            assertThat(warnings(log), is(empty()));
        }
    }

    @Test
    void aFrameworkRefusalInsideTheRoutingKeepsItsStatusInJson() throws IOException {
        try (CapturedLog log = CapturedLog.open()) {
            String answer = exchange("GET /observe/metrics HTTP/1.1\r\nHost: x\r\nAccept: ///;;q=abc\r\n"
                    + "Connection: close\r\n\r\n");
            assertThat(answer, startsWith("HTTP/1.1 400 Bad Request\r\n"));
            assertThat(answer, endsWith("\r\n\r\n{\"error\":\"Unable to parse Accept header\"}"));
            assertThat(warnings(log), is(empty()));
        }
    }

    @Test
    void aBadRequestLineAndAHeaderTooLargeAreHelidonsOwn400sAndNoWarning() throws IOException {
        try (CapturedLog log = CapturedLog.open()) {
            assertThat(exchange("NOT AN HTTP REQUEST\r\n\r\n"), startsWith("HTTP/1.1 400 Bad Request\r\n"));
            assertThat(exchange("GET /invoices HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(20_000) + "\r\n\r\n"),
                    startsWith("HTTP/1.1 400 Bad Request\r\n"));
            assertThat(warnings(log), is(empty()));
        }
    }
}
