package dev.paymesh.support;

import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.Tag;
import io.helidon.metrics.api.Timer;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;

/**
 * One access-log line and one timer sample per request. The timer is tagged with the pattern of the
 * route that answered (as Helidon matched it), not the raw path, so that ids in paths cannot grow
 * the number of series without bound.
 */
final class RequestLog implements Filter {

    private static final HeaderName REQUEST_ID = HeaderNames.create("x-request-id");
    /** Where Helidon's observe feature puts health and metrics (its default endpoint). */
    private static final String OBSERVE = "/observe";

    private final MeterRegistry registry;
    private final Map<TimerKey, Timer> timers = new ConcurrentHashMap<>();

    /** A timer's key as the request gives it: the pattern as Helidon matched it, before {@link #route}. */
    private record TimerKey(String method, String pattern, int status) {
    }

    RequestLog(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    public void filter(FilterChain chain, RoutingRequest request, RoutingResponse response) {
        long start = System.nanoTime();
        try {
            chain.proceed();
        } finally {
            long nanos = System.nanoTime() - start;
            String method = request.prologue().method().text();
            String path = request.path().absolute().path();
            int status = response.status().code();
            timer(method, request.matchingPattern().orElse(""), status).record(nanos, TimeUnit.NANOSECONDS);
            String requestId = request.headers().first(REQUEST_ID).orElse("-");
            AccessLog.log(Instant.now(), method, path, status, nanos, requestId);
        }
    }

    /**
     * The route that answered: {@code /invoices/{id}}, not {@code /invoices/I1}; every observe endpoint
     * as {@code /observe}, and {@code other} for what no route took (the 404s).
     */
    private static String route(String pattern) {
        if (pattern.isEmpty()) {
            return "other";
        }
        if (pattern.startsWith(OBSERVE)) {
            return OBSERVE;
        }
        // A service's root route ("/" within /invoices) matches as "/invoices/".
        return pattern.length() > 1 && pattern.endsWith("/") ? pattern.substring(0, pattern.length() - 1) : pattern;
    }

    /**
     * The timer of the method, route and status, looked up without building a string per request.
     * It keeps a count, a sum and a maximum, without client-side percentiles: Helidon's default six
     * percentiles record every sample into histograms, a cost per request the dashboards do not need
     * (latency is sum over count per route; Istio's metrics carry the distribution).
     */
    private Timer timer(String method, String pattern, int status) {
        TimerKey key = new TimerKey(method, pattern, status);
        Timer timer = timers.get(key);
        return timer != null ? timer : timers.computeIfAbsent(key, ignored -> registry.getOrCreate(Timer.builder("http_requests")
                .description("HTTP requests by method, route and status")
                .percentiles(new double[0])
                .addTag(Tag.create("method", method))
                .addTag(Tag.create("route", route(pattern)))
                .addTag(Tag.create("status", Integer.toString(status)))));
    }
}
