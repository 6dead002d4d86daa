package dev.paymesh.payment;

import java.util.logging.Logger;

import io.helidon.config.Config;
import io.helidon.http.Status;
import io.helidon.logging.common.LogConfig;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.Metrics;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.observe.ObserveFeature;
import io.helidon.webserver.observe.health.HealthObserver;
import io.helidon.webserver.observe.metrics.MetricsObserver;

/** Starts payment-provider: configuration from application.yaml, overridden by environment variables. */
public final class Main {

    private static final Logger LOGGER = Logger.getLogger(Main.class.getName());

    private Main() {
    }

    public static void main(String[] args) {
        LogConfig.configureRuntime();
        start(Config.create());
    }

    /** Builds and starts the server described by the configuration; port 0 picks a free port. */
    public static WebServer start(Config config) {
        Config payments = config.get("payments");
        int maxBodyBytes = payments.get("max-body-bytes").asInt().orElse(65536);
        MeterRegistry registry = Metrics.globalRegistry();
        PaymentStore store = new InMemoryPaymentStore();
        WebServer server = WebServer.builder()
                .config(config.get("server"))
                .addFeature(observe(registry))
                .routing(routing -> routing(routing, store, maxBodyBytes, registry))
                .build()
                .start();
        LOGGER.info(() -> "payment-provider listening on port " + server.port()
                + " (store: in-memory, max body " + maxBodyBytes + " bytes)");
        return server;
    }

    /** Health and metrics under /observe, reading the one registry the service writes to. */
    static ObserveFeature observe(MeterRegistry registry) {
        return ObserveFeature.just(
                HealthObserver.builder().details(true).useSystemServices(true).build(),
                MetricsObserver.builder().meterRegistry(registry).build());
    }

    static void routing(HttpRouting.Builder routing, PaymentStore store, int maxBodyBytes, MeterRegistry registry) {
        routing.addFilter(new RequestLog(registry, Main::routeOf))
                .addFeature(new NotFoundFeature())
                .register("/payments", new PaymentService(store, maxBodyBytes, new PaymentMetrics(registry)))
                .error(BadRequestException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.BAD_REQUEST_400, e.getMessage()))
                .error(BodyReader.TooLargeException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.REQUEST_ENTITY_TOO_LARGE_413, e.getMessage()))
                .error(Exception.class, (req, res, e) -> {
                    PaymentService.log(e);
                    JsonResponses.error(res, Status.INTERNAL_SERVER_ERROR_500, "internal error; see the service log");
                });
    }

    private static String routeOf(String path) {
        if (path.equals("/payments/pay")) {
            return "/payments/pay";
        }
        if (path.startsWith("/payments/")) {
            return "/payments/{id}";
        }
        return path.startsWith("/observe") ? "/observe" : "other";
    }
}
