package dev.paymesh.system;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import io.helidon.common.media.type.MediaTypes;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;

/**
 * A real server in front of the real payment-provider that answers one request per connection and
 * then closes it, as an HTTP/1.0 server, a draining proxy or an idle timeout does to a pooled
 * connection. It speaks HTTP on a plain socket so nothing in between keeps the connection open.
 * Every request that arrives is counted per payment id, before it is forwarded.
 */
final class ClosingProvider implements AutoCloseable {

    /** How the answer tells the client the connection ends. */
    enum Style {
        /** {@code HTTP/1.0} with no Connection header: closing is the version's default. */
        HTTP_1_0,
        /** {@code HTTP/1.1} with {@code Connection: close}. */
        CONNECTION_CLOSE
    }

    private final WebClient provider;
    private final Style style;
    private final ServerSocket socket;
    private final ExecutorService connections = Executors.newVirtualThreadPerTaskExecutor();
    private final ConcurrentMap<String, AtomicInteger> paymentPosts = new ConcurrentHashMap<>();
    private final AtomicInteger connectionCount = new AtomicInteger();
    private final AtomicInteger paymentRequests = new AtomicInteger();

    ClosingProvider(int providerPort, Style style) throws IOException {
        this.provider = WebClient.builder().baseUri("http://127.0.0.1:" + providerPort).build();
        this.style = style;
        this.socket = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(this::accept);
    }

    int port() {
        return socket.getLocalPort();
    }

    int paymentPostsFor(String id) {
        AtomicInteger count = paymentPosts.get(id);
        return count == null ? 0 : count.get();
    }

    /** Payment requests, single or batch, that arrived. */
    int paymentRequests() {
        return paymentRequests.get();
    }

    int connections() {
        return connectionCount.get();
    }

    private void accept() {
        while (!socket.isClosed()) {
            try {
                Socket connection = socket.accept();
                connectionCount.incrementAndGet();
                connections.submit(() -> answerOnceAndClose(connection));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void answerOnceAndClose(Socket connection) {
        try (connection) {
            InputStream in = new BufferedInputStream(connection.getInputStream());
            String head = readHead(in);
            if (head == null) {
                return;
            }
            String[] lines = head.split("\r\n");
            String[] requestLine = lines[0].split(" ");
            int length = 0;
            for (String line : lines) {
                if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                    length = Integer.parseInt(line.substring("content-length:".length()).trim());
                }
            }
            String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
            String method = requestLine[0];
            String path = requestLine[1];
            if (PaymentBodies.pays(path)) {
                paymentRequests.incrementAndGet();
                for (String id : PaymentBodies.ids(body)) {
                    paymentPosts.computeIfAbsent(id, ignored -> new AtomicInteger()).incrementAndGet();
                }
            }
            var outgoing = provider.method(io.helidon.http.Method.create(method)).path(path);
            int status;
            String entity;
            try (HttpClientResponse answer = body.isEmpty()
                    ? outgoing.request()
                    : outgoing.contentType(MediaTypes.APPLICATION_JSON).submit(body)) {
                status = answer.status().code();
                entity = answer.as(String.class);
            }
            byte[] bytes = entity.getBytes(StandardCharsets.UTF_8);
            String statusLine = style == Style.HTTP_1_0 ? "HTTP/1.0 " : "HTTP/1.1 ";
            String connectionHeader = style == Style.CONNECTION_CLOSE ? "Connection: close\r\n" : "";
            OutputStream out = connection.getOutputStream();
            out.write((statusLine + status + " X\r\n" + connectionHeader
                    + "Content-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(bytes);
            out.flush();
        } catch (SocketException e) {
            // the client went away; nothing to answer
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The request line and headers, or null when the connection closed before a request. */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        int next;
        while ((next = in.read()) != -1) {
            head.write(next);
            matched = next == end[matched] ? matched + 1 : (next == '\r' ? 1 : 0);
            if (matched == end.length) {
                return head.toString(StandardCharsets.US_ASCII);
            }
        }
        return null;
    }

    @Override
    public void close() throws IOException {
        socket.close();
        connections.close();
    }
}
