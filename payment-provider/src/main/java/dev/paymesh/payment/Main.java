package dev.paymesh.payment;

import java.util.List;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.helidon.config.Config;
import io.helidon.health.HealthCheck;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.logging.common.LogConfig;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.Metrics;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.observe.ObserveFeature;
import io.helidon.webserver.observe.health.HealthObserver;
import io.helidon.webserver.observe.metrics.MetricsObserver;

/**
 * Starts payment-provider: configuration from application.yaml, overridden by environment variables.
 * With {@code db.url} set payments live in PostgreSQL, otherwise in memory.
 */
public final class Main {

    private static final Logger LOGGER = Logger.getLogger(Main.class.getName());

    private Main() {
    }

    public static void main(String[] args) {
        LogConfig.configureRuntime();
        try {
            start(Config.create());
        } catch (RuntimeException e) {
            // A replica that cannot serve exits at once, saying why, rather than half-starting.
            LOGGER.log(Level.SEVERE, "payment-provider cannot start: " + e.getMessage(), e);
            System.exit(1);
        }
    }

    /**
     * Builds and starts the server described by the configuration; port 0 picks a free port. When a
     * database is configured it is migrated first, and closed again when the server stops.
     *
     * @throws PaymentDatabase.StartupException when the configured database cannot be migrated
     */
    public static WebServer start(Config config) {
        Config payments = config.get("payments");
        int maxBodyBytes = payments.get("max-body-bytes").asInt().orElse(65536);
        MeterRegistry registry = Metrics.globalRegistry();
        Optional<PaymentDatabase> database = DatabaseSettings.from(config.get("db")).map(PaymentDatabase::open);
        PaymentStore store = database.<PaymentStore>map(db -> new JdbcPaymentStore(db.dataSource()))
                .orElseGet(InMemoryPaymentStore::new);
        List<HealthCheck> readiness = database.map(db -> List.of(db.readinessCheck())).orElse(List.of());
        WebServer server;
        try {
            server = WebServer.builder()
                    .config(config.get("server"))
                    .addFeature(observe(registry, readiness))
                    .routing(routing -> {
                        routing(routing, store, maxBodyBytes, registry);
                        database.ifPresent(db -> routing.addFeature(new CloseOnStop(db)));
                    })
                    .build()
                    .start();
            if (!server.isRunning()) {
                // Helidon logs the bind failure and returns a stopped server; without this the
                // process would go on to exit 0 as if it had served.
                throw new IllegalStateException("the server did not start: is port "
                        + config.get("server.port").asString().orElse("8082") + " already in use? (see the log above)");
            }
        } catch (RuntimeException e) {
            database.ifPresent(PaymentDatabase::close);
            throw e;
        }
        String storeName = database.map(db -> "postgresql at " + db.settings().safeUrl()
                + ", pool of " + db.settings().maxPoolSize()).orElse("in-memory");
        LOGGER.info(() -> "payment-provider listening on port " + server.port()
                + " (store: " + storeName + ", max body " + maxBodyBytes + " bytes)");
        return server;
    }

    /** Health and metrics under /observe, reading the one registry the service writes to. */
    static ObserveFeature observe(MeterRegistry registry) {
        return observe(registry, List.of());
    }

    /** The same, with checks of what the service itself needs (its store) added to the built-in ones. */
    static ObserveFeature observe(MeterRegistry registry, List<HealthCheck> checks) {
        return ObserveFeature.just(
                HealthObserver.builder().details(true).useSystemServices(true).addHealthChecks(checks).build(),
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
                .error(StoreUnavailableException.class, (req, res, e) -> {
                    PaymentService.logUnavailable(e);
                    res.header(HeaderNames.RETRY_AFTER, "1");
                    JsonResponses.error(res, Status.SERVICE_UNAVAILABLE_503,
                            "payment store unavailable; retry later, a retried payment is charged at most once");
                })
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
