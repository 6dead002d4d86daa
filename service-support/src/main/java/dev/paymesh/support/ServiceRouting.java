package dev.paymesh.support;

import java.util.logging.Level;
import java.util.logging.Logger;

import io.helidon.http.HeaderNames;
import io.helidon.http.HttpException;
import io.helidon.http.Status;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.webserver.http.HttpRouting;

/**
 * What every service's routing has besides its own routes: the access log and per-route timers, a
 * JSON 404 for unknown paths, and the mapping of errors to JSON answers (no stack trace reaches a
 * client).
 */
public final class ServiceRouting {

    private static final Logger LOGGER = Logger.getLogger(ServiceRouting.class.getName());

    /** The 503 answer while the service's database is away. */
    public record Unavailable(String message, int retryAfterSeconds) {
    }

    private ServiceRouting() {
    }

    public static void install(HttpRouting.Builder routing, MeterRegistry registry, Unavailable unavailable) {
        String retryAfter = Integer.toString(unavailable.retryAfterSeconds());
        routing.addFilter(new RequestLog(registry))
                .addFeature(new NotFoundFeature())
                .error(InvalidRequestException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.BAD_REQUEST_400, e.getMessage()))
                .error(BodyReader.TooLargeException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.REQUEST_ENTITY_TOO_LARGE_413, e.getMessage()))
                .error(StoreUnavailableException.class, (req, res, e) -> {
                    // Only at FINE: the database's outage log says when it began and ended (Database),
                    // and the access log has every request.
                    Throwable cause = e.getCause();
                    LOGGER.fine(() -> e.getMessage() + (cause == null ? "" : ": " + cause.getMessage()));
                    res.header(HeaderNames.RETRY_AFTER, retryAfter);
                    JsonResponses.error(res, Status.SERVICE_UNAVAILABLE_503, unavailable.message());
                })
                .error(HttpException.class, (req, res, e) -> {
                    // Helidon's own answer to a request it cannot serve (a bad header, a body that
                    // ends early, an Accept nothing here produces): its status, in JSON. A 4xx is the
                    // client's doing, so it is no warning and carries no stack trace.
                    Status status = e.status();
                    if (status.code() >= 500) {
                        LOGGER.log(Level.WARNING, "request failed", e);
                        JsonResponses.error(res, status, "internal error; see the service log");
                        return;
                    }
                    LOGGER.fine(() -> "request refused with " + status.code() + ": " + e.getMessage()
                            + (e.getCause() == null ? "" : " (" + e.getCause() + ")"));
                    e.headers().forEach(res::header);
                    JsonResponses.error(res, status, e.getMessage() == null || e.getMessage().isBlank()
                            ? status.reasonPhrase() : e.getMessage());
                })
                .error(Exception.class, (req, res, e) -> {
                    LOGGER.log(Level.WARNING, "request failed", e);
                    JsonResponses.error(res, Status.INTERNAL_SERVER_ERROR_500, "internal error; see the service log");
                });
    }
}
