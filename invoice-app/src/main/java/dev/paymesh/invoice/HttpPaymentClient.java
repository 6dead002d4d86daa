package dev.paymesh.invoice;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

import io.helidon.common.socket.SocketOptions;
import io.helidon.common.tls.Tls;
import io.helidon.common.buffers.DataReader;
import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;
import io.helidon.http.WritableHeaders;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.config.Config;
import io.helidon.webclient.api.HttpClientRequest;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;

import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;

import dev.paymesh.support.Credentials;
import dev.paymesh.support.Json;
import dev.paymesh.support.JsonText;

/**
 * {@link PaymentClient} over HTTP: payment-provider's {@code POST /payments/pay/batch},
 * {@code POST /payments/pay} and {@code GET /payments/{id}}. A provider without the batch (the
 * original service answers it 404) is paid one invoice per request, and asked again after
 * {@link #ASK_AGAIN_AFTER}.
 */
final class HttpPaymentClient implements PaymentClient, AutoCloseable {

    private static final Logger LOGGER = Logger.getLogger(HttpPaymentClient.class.getName());

    /**
     * Headers a tracer or the mesh uses to join the two hops of a payment; copied from the request
     * that started the pay run onto every call it makes.
     */
    static final List<HeaderName> TRACING_HEADERS = List.of(
            "x-request-id", "traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid",
            "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags").stream().map(HeaderNames::create).toList();

    /**
     * The settings under {@code payment.provider}; the defaults are in application.yaml.
     *
     * @param url            where payment-provider answers
     * @param connectTimeout how long a connection may take
     * @param readTimeout    how long an answer may take; past it a payment's outcome is unknown
     * @param batchSize      the most invoices paid with one request; 1 sends each on its own
     */
    record Settings(String url, Duration connectTimeout, Duration readTimeout, int batchSize) {

        /** What payment-provider takes in one batch. */
        static final int MAX_BATCH_SIZE = 1000;

        Settings {
            if (batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
                throw new IllegalArgumentException("payment.provider.batch-size must be from 1 to " + MAX_BATCH_SIZE
                        + ", got " + batchSize);
            }
        }

        static Settings from(Config provider) {
            return new Settings(provider.get("url").asString().get(),
                    Duration.ofMillis(provider.get("connect-timeout-millis").asLong().get()),
                    Duration.ofMillis(provider.get("read-timeout-millis").asLong().get()),
                    provider.get("batch-size").asInt().get());
        }
    }

    /**
     * How long a provider that answered it takes no batches is paid one invoice per request before
     * it is asked again: in a rolling upgrade the first answer may come from a pod of the old version.
     */
    static final Duration ASK_AGAIN_AFTER = Duration.ofMinutes(1);

    /** No tracing headers to forward: the question whether batches are taken belongs to no pay run. */
    private static final Headers NO_HEADERS = WritableHeaders.create();

    private final WebClient client;
    /** Where payment-provider answers, as messages show it: without credentials. */
    private final String baseUrl;
    private final int batchSize;
    /** Whether payment-provider takes batches: null until it has answered the question. */
    private volatile Boolean batches;
    /** When a provider that takes no batches is asked again, in {@link #clock}'s nanoseconds. */
    private volatile long askAgainAt;
    private final LongSupplier clock;

    HttpPaymentClient(Settings settings) {
        this(settings, System::nanoTime);
    }

    /** With the clock {@link #ASK_AGAIN_AFTER} is measured by; for tests. */
    HttpPaymentClient(Settings settings, LongSupplier clock) {
        this.clock = clock;
        this.baseUrl = Credentials.masked(settings.url());
        this.batchSize = settings.batchSize();
        this.batches = batchSize > 1 ? null : Boolean.FALSE;
        this.client = WebClient.builder()
                .baseUri(settings.url())
                // Without TCP_NODELAY a request's body, written after its headers, waits for the
                // provider to acknowledge them, which it delays: tens of milliseconds per payment.
                .socketOptions(SocketOptions.builder()
                        .connectTimeout(settings.connectTimeout())
                        .readTimeout(settings.readTimeout())
                        .tcpNoDelay(true)
                        .build())
                .followRedirects(false)
                .update(it -> {
                    // Plain http (the mesh's sidecar does the TLS) needs no SSL context; the client's
                    // default would build one from the JDK's trust store before the server is up.
                    if (settings.url().regionMatches(true, 0, "http:", 0, 5)) {
                        it.tls(Tls.builder().enabled(false).build());
                    }
                })
                // Its own pool, not the process-wide one, so closing the client closes its connections.
                .shareConnectionCache(false)
                .build();
    }

    /**
     * Posts the payment of one invoice in the original wire format.
     *
     * <p>A pooled connection may have been closed by the provider since its last answer (an HTTP/1.0
     * server, {@code Connection: close}, a proxy draining or timing out idle connections). A request
     * that got no answer at all, not even a status line, is sent once more on a connection of its
     * own; payment-provider charges an invoice id once, and a second failure leaves the outcome to
     * the lookup.
     */
    @Override
    public Result pay(Invoice invoice, Headers incoming) {
        String body = Json.object()
                .add("id", invoice.id())
                .add("value", invoice.value())
                .add("currency", invoice.currency().getCurrencyCode())
                .build()
                .toString();
        HttpClientResponse response;
        try {
            response = exchange(pooled -> post("/payments/pay", body, incoming, pooled));
        } catch (RuntimeException e) {
            return failure(e);
        }
        try (response) {
            int code = response.status().code();
            return outcome(code, response.as(String.class));
        } catch (RuntimeException e) {
            return failure(e);
        }
    }

    /**
     * The configured batch size once payment-provider has shown it takes batches, else 1. The first
     * call asks it with an empty batch, which charges nothing: payment-provider refuses it with a
     * 400, while one without the endpoint (the original service, a mesh policy that does not admit
     * the path) answers another 4xx, and is then paid one invoice per request until it is asked
     * again, {@link #ASK_AGAIN_AFTER} later. Unreachable or failing (5xx), it is asked again next
     * time, and paid one by one meanwhile. With a batch size of 1 it is never asked.
     */
    @Override
    public int batchLimit() {
        Boolean known = batches;
        if (known == null || timeToAskAgain(known)) {
            known = askWhetherBatchesAreTaken();
        }
        return Boolean.TRUE.equals(known) ? batchSize : 1;
    }

    private boolean timeToAskAgain(Boolean known) {
        return !known && batchSize > 1 && clock.getAsLong() - askAgainAt >= 0;
    }

    /** Remembers that payment-provider takes no batches, until {@link #ASK_AGAIN_AFTER} from now. */
    private void noBatches() {
        askAgainAt = clock.getAsLong() + ASK_AGAIN_AFTER.toNanos();
        batches = false;
    }

    private synchronized Boolean askWhetherBatchesAreTaken() {
        Boolean known = batches;
        if (known != null && !timeToAskAgain(known)) {
            // Another caller asked meanwhile.
            return known;
        }
        try (HttpClientResponse response = post("/payments/pay/batch", "[]", NO_HEADERS, true)) {
            int code = response.status().code();
            String answer = response.as(String.class);
            if (code / 100 != 4) {
                // A provider failing (5xx) says nothing about the endpoint: asked again next time.
                LOGGER.fine(() -> "payment-provider answered " + code + " when asked whether it takes batches");
                return null;
            }
            if (code == 400) {
                batches = true;
                LOGGER.info(() -> "payment-provider at " + baseUrl + " takes batches; up to " + batchSize
                        + " invoices are paid per request");
            } else {
                noBatches();
                LOGGER.warning(() -> "payment-provider at " + baseUrl + " answered " + code + " to an empty"
                        + " POST /payments/pay/batch (" + answer + "); paying one invoice per request, asking"
                        + " again in " + ASK_AGAIN_AFTER.toSeconds() + " s");
            }
            return batches;
        } catch (RuntimeException e) {
            LOGGER.fine(() -> "could not ask payment-provider whether it takes batches: " + rootMessage(e));
            return null;
        }
    }

    /**
     * Pays the invoices with one {@code POST /payments/pay/batch}, whose answer has an element per
     * payment, each read as {@link #pay} reads a whole answer. A request that failed as a whole
     * leaves every payment with the outcome the same failure gives one payment; any answer but a
     * 200 leaves them unknown, whatever its status, as it is not about one payment, except a 404 or
     * 405: there is no batch endpoint (any more), so nothing was charged, and later calls pay one
     * invoice per request until the provider is asked again.
     */
    @Override
    public List<Result> payAll(List<Invoice> invoices, Headers incoming) {
        if (invoices.size() < 2 || !Boolean.TRUE.equals(batches)) {
            return PaymentClient.super.payAll(invoices, incoming);
        }
        String body = batchBody(invoices);
        HttpClientResponse response;
        try {
            response = exchange(pooled -> post("/payments/pay/batch", body, incoming, pooled));
        } catch (RuntimeException e) {
            return Collections.nCopies(invoices.size(), failure(e));
        }
        try (response) {
            int code = response.status().code();
            String answer = response.as(String.class);
            if (code == 404 || code == 405) {
                noBatches();
                LOGGER.warning(() -> "payment-provider at " + baseUrl + " answered " + code
                        + " to POST /payments/pay/batch; paying one invoice per request, asking again in "
                        + ASK_AGAIN_AFTER.toSeconds() + " s");
                return Collections.nCopies(invoices.size(), new Result.NotPaid("payment-provider answered " + code
                        + " to a batch, which charges nothing; the next run pays one invoice per request"));
            }
            if (code != 200) {
                // About the request, not any one payment (a 4xx included): each is looked up.
                return Collections.nCopies(invoices.size(),
                        new Result.Unknown("payment-provider answered " + code + ": " + answer));
            }
            return outcomes(invoices, answer);
        } catch (RuntimeException e) {
            return Collections.nCopies(invoices.size(), failure(e));
        }
    }

    /** The batch's body: the payments as {@link #pay} writes each, in one array. */
    private static String batchBody(List<Invoice> invoices) {
        StringBuilder out = new StringBuilder(invoices.size() * 64).append('[');
        for (Invoice invoice : invoices) {
            if (out.length() > 1) {
                out.append(',');
            }
            JsonText.string(JsonText.name(out.append('{'), "id"), invoice.id());
            JsonText.number(JsonText.name(out.append(','), "value"), invoice.value());
            JsonText.string(JsonText.name(out.append(','), "currency"), invoice.currency().getCurrencyCode());
            out.append('}');
        }
        return out.append(']').toString();
    }

    /**
     * Each payment's outcome from a batch's 200: its element's status, and its error as the single
     * answer would carry it. An answer that does not match the batch element by element (another
     * count, another id in a place) leaves every outcome unknown, to be looked up.
     */
    private static List<Result> outcomes(List<Invoice> invoices, String answer) {
        List<Result> results = new ArrayList<>(invoices.size());
        try (var reader = Json.reader(answer)) {
            JsonArray elements = reader.readArray();
            if (elements.size() == invoices.size()) {
                for (int i = 0; i < elements.size(); i++) {
                    JsonObject element = elements.getJsonObject(i);
                    JsonValue id = element.get("id");
                    if (!(id instanceof JsonString text) || !text.getString().equals(invoices.get(i).id())) {
                        break;
                    }
                    JsonValue error = element.get("error");
                    results.add(outcome(element.getInt("status"),
                            error instanceof JsonString message ? JsonText.object("error", message.getString()) : ""));
                }
            }
        } catch (RuntimeException e) {
            results.clear();
        }
        if (results.size() != invoices.size()) {
            String truncated = answer.length() > 200 ? answer.substring(0, 200) + "..." : answer;
            return Collections.nCopies(invoices.size(),
                    new Result.Unknown("payment-provider's answer to a batch does not match it: " + truncated));
        }
        return results;
    }

    /** What an answer of {@code code} means for a payment, as the single request reads it. */
    private static Result outcome(int code, String answer) {
        if (code / 100 == 2) {
            return new Result.Paid();
        }
        String reason = "payment-provider answered " + code + ": " + answer;
        // 408 and 429 ask to come back later; every other 4xx is about the payment itself.
        if (code / 100 == 4 && code != 408 && code != 429) {
            return new Result.Refused(reason);
        }
        return new Result.Unknown(reason);
    }

    /**
     * Sends a request on a pooled connection and, when that connection turns out closed before any
     * answer arrived, once more on a new connection; the second failure is thrown.
     */
    private static HttpClientResponse exchange(Function<Boolean, HttpClientResponse> send) {
        try {
            return send.apply(true);
        } catch (RuntimeException first) {
            if (!closedBeforeAnswer(first)) {
                throw first;
            }
            LOGGER.fine(() -> "no answer on a pooled connection (" + rootMessage(first)
                    + "); sending again on a new connection");
            try {
                return send.apply(false);
            } catch (RuntimeException second) {
                throw new ResentException(second);
            }
        }
    }

    /** Sends payments; {@code pooled} false opens a connection for them alone and closes it after. */
    private HttpClientResponse post(String path, String body, Headers incoming, boolean pooled) {
        HttpClientRequest request = client.post(path).contentType(MediaTypes.APPLICATION_JSON);
        forwardTracing(incoming, request);
        if (!pooled) {
            request.keepAlive(false);
        }
        return request.submit(body);
    }

    /**
     * True when the connection ended before any answer arrived: the end of the stream where the
     * status line should be, or a reset or broken pipe while sending. A refused connection or a
     * timeout is not such a case.
     */
    private static boolean closedBeforeAnswer(Throwable e) {
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof ConnectException || cause instanceof SocketTimeoutException) {
                return false;
            }
        }
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof DataReader.InsufficientDataAvailableException
                    || cause instanceof SocketException) {
                return true;
            }
        }
        return false;
    }

    /**
     * Asks whether payment-provider recorded a payment for the invoice, when an earlier attempt has
     * no known outcome. Only a 200 (paid) or a 404 (nothing recorded) is an answer; anything else,
     * an unreachable provider included, leaves the outcome unknown.
     */
    @Override
    public Result reconcile(Invoice invoice, Headers incoming) {
        try (HttpClientResponse response = exchange(pooled -> {
            HttpClientRequest request = client.get("/payments/" + invoice.id());
            forwardTracing(incoming, request);
            if (!pooled) {
                request.keepAlive(false);
            }
            return request.request();
        })) {
            int code = response.status().code();
            if (code == 200) {
                return new Result.Paid();
            }
            if (code == 404) {
                return new Result.NotPaid("payment-provider has no payment for it");
            }
            return new Result.Unknown("payment-provider answered " + code + " when asked about the payment");
        } catch (RuntimeException e) {
            if (isTimeout(e)) {
                return new Result.Unknown("payment-provider did not answer in time when asked about the payment");
            }
            return new Result.Unknown("payment-provider unreachable at " + baseUrl
                    + " when asked about the payment: " + rootMessage(e));
        }
    }

    /**
     * Only a connection that was never made means nothing was sent. A timeout, or a connection that
     * failed once the request was on its way (a second attempt included), leaves the outcome unknown.
     */
    private Result failure(RuntimeException e) {
        if (isTimeout(e)) {
            return new Result.Unknown("payment-provider did not answer in time");
        }
        if (!(e instanceof ResentException) && neverConnected(e)) {
            return new Result.NotPaid("payment-provider unreachable at " + baseUrl + ": " + rootMessage(e));
        }
        return new Result.Unknown("payment-provider connection failed after the payment was sent ("
                + baseUrl + "): " + rootMessage(e));
    }

    private static boolean neverConnected(Throwable e) {
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof ConnectException || cause instanceof UnknownHostException
                    || cause instanceof NoRouteToHostException) {
                return true;
            }
        }
        return false;
    }

    /** The failure of a request sent a second time: the first may have reached the provider. */
    private static final class ResentException extends RuntimeException {
        ResentException(RuntimeException cause) {
            super(cause.getMessage(), cause);
        }
    }

    private static boolean isTimeout(Throwable e) {
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof SocketTimeoutException) {
                return true;
            }
        }
        return false;
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return root.getClass().getSimpleName() + (root.getMessage() == null ? "" : " " + root.getMessage());
    }

    /** Closes the pooled connections to payment-provider; the server does so once it has stopped. */
    @Override
    public void close() {
        client.closeResource();
    }

    @Override
    public String toString() {
        return "the payment-provider client"; // not the URL: it may carry credentials
    }

    private static void forwardTracing(Headers incoming, HttpClientRequest request) {
        for (HeaderName name : TRACING_HEADERS) {
            incoming.first(name).ifPresent(value -> request.header(name, value));
        }
    }
}
