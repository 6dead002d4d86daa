package dev.paymesh.payment;

import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

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
 * One log line and one timer sample per request. The route name, not the raw path, tags the timer,
 * so that ids in paths cannot grow the number of series without bound.
 */
final class RequestLog implements Filter {

    private static final Logger LOGGER = Logger.getLogger("dev.paymesh.access");
    private static final HeaderName REQUEST_ID = HeaderNames.create("x-request-id");

    private final MeterRegistry registry;
    private final Function<String, String> routeOfPath;
    private final Map<String, Timer> timers = new ConcurrentHashMap<>();

    RequestLog(MeterRegistry registry, Function<String, String> routeOfPath) {
        this.registry = registry;
        this.routeOfPath = routeOfPath;
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
            timer(method, routeOfPath.apply(path), status).record(nanos, TimeUnit.NANOSECONDS);
            String requestId = request.headers().first(REQUEST_ID).orElse("-");
            if (LOGGER.isLoggable(Level.INFO)) {
                LOGGER.info(Instant.now() + " " + method + " " + path + " " + status + " "
                        + (nanos / 1_000) / 1000.0 + "ms request-id=" + requestId);
            }
        }
    }

    private Timer timer(String method, String route, int status) {
        String key = method + ' ' + route + ' ' + status;
        return timers.computeIfAbsent(key, ignored -> registry.getOrCreate(Timer.builder("http_requests")
                .description("HTTP requests by method, route and status")
                .addTag(Tag.create("method", method))
                .addTag(Tag.create("route", route))
                .addTag(Tag.create("status", Integer.toString(status)))));
    }
}
