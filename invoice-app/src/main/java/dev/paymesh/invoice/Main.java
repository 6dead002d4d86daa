package dev.paymesh.invoice;

import java.time.Clock;
import java.time.Duration;
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
import io.helidon.webserver.http.HttpFeature;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.observe.ObserveFeature;
import io.helidon.webserver.observe.health.HealthObserver;
import io.helidon.webserver.observe.metrics.MetricsObserver;

/**
 * Starts invoice-app: configuration from application.yaml, overridden by environment variables
 * (Helidon looks a key such as {@code db.pool.max-size} up as {@code DB_POOL_MAX_SIZE} too).
 * With {@code db.url} set the invoices live in PostgreSQL, otherwise in memory.
 */
public final class Main {

    private static final Logger LOGGER = Logger.getLogger(Main.class.getName());
    private static final Duration SHUTDOWN_GRACE_PERIOD = Duration.ofSeconds(20);

    private Main() {
    }

    public static void main(String[] args) {
        LogConfig.configureRuntime();
        try {
            start(Config.create());
        } catch (RuntimeException e) {
            LOGGER.severe("invoice-app cannot start: " + e.getMessage());
            LOGGER.log(Level.FINE, "start-up failure", e);
            System.exit(1);
        }
    }

    /**
     * Builds and starts the server described by the configuration; port 0 picks a free port. Throws,
     * having released what it opened, when a configured database cannot be reached or migrated.
     */
    public static WebServer start(Config config) {
        Config provider = config.get("payment.provider");
        String providerUrl = provider.get("url").asString().orElse("http://localhost:8082");
        Duration connectTimeout = Duration.ofMillis(provider.get("connect-timeout-millis").asLong().orElse(2000L));
        Duration readTimeout = Duration.ofMillis(provider.get("read-timeout-millis").asLong().orElse(5000L));
        int maxInFlight = config.get("payment.max-in-flight").asInt().orElse(32);
        int maxBodyBytes = config.get("invoices.max-body-bytes").asInt().orElse(65536);
        Duration lease = claimLease(config, connectTimeout, readTimeout);
        MeterRegistry registry = Metrics.globalRegistry();
        Optional<InvoiceDatabase.Settings> dbSettings = InvoiceDatabase.Settings.from(config.get("db"));
        InvoiceDatabase database = dbSettings.map(InvoiceDatabase::open).orElse(null);
        try {
            InvoiceStore store = database == null
                    ? InMemoryInvoiceStore.seeded(lease, Clock.systemUTC())
                    : new JdbcInvoiceStore(database.dataSource(), lease);
            HealthCheck[] checks = database == null ? new HealthCheck[0] : new HealthCheck[] {
                    new DatabaseHealthCheck(database.dataSource(),
                            Duration.ofMillis(config.get("db.health-timeout-millis").asLong().orElse(1000L)))};
            PaymentClient client = new PaymentClient(providerUrl, connectTimeout, readTimeout);
            String instance = System.getenv().getOrDefault("HOSTNAME", "invoice-app");
            WebServer server = WebServer.builder()
                    // Before config, which may override it: a pay run in flight on SIGTERM may finish
                    // (Helidon's own default is half a second). One cut short is safe, but its invoices
                    // stay claimed until the lease runs out.
                    .shutdownGracePeriod(SHUTDOWN_GRACE_PERIOD)
                    .config(config.get("server"))
                    .addFeature(observe(registry, checks))
                    .routing(routing -> {
                        routing(routing, store, client, maxInFlight, maxBodyBytes, registry, instance);
                        if (database != null) {
                            routing.addFeature(new ClosingFeature(database));
                        }
                    })
                    .build()
                    .start();
            if (!server.isRunning()) {
                // Helidon logs the bind failure and returns a stopped server; without this the
                // process would go on to exit 0 as if it had served.
                throw new IllegalStateException("the server did not start: is port "
                        + config.get("server.port").asString().orElse("8081") + " already in use? (see the log above)");
            }
            String storeDescription = dbSettings.map(settings -> "postgresql, " + settings).orElse("in-memory");
            LOGGER.info(() -> "invoice-app listening on port " + server.port() + " (store: " + storeDescription
                    + ", payment.provider.url=" + providerUrl + ", connect-timeout=" + connectTimeout.toMillis()
                    + "ms, read-timeout=" + readTimeout.toMillis() + "ms, payment.max-in-flight=" + maxInFlight
                    + ", payment.claim-lease-seconds=" + lease.toSeconds() + ", max body " + maxBodyBytes + " bytes)");
            return server;
        } catch (RuntimeException e) {
            if (database != null) {
                database.close();
            }
            throw e;
        }
    }

    /**
     * How long a pay run's claim on an invoice lasts before another run may take it over. It must
     * outlast one payment and its lookup, or a slow but living run would have its invoices taken.
     */
    private static Duration claimLease(Config config, Duration connectTimeout, Duration readTimeout) {
        long seconds = config.get("payment.claim-lease-seconds").asLong().orElse(60L);
        if (seconds < 1) {
            throw new IllegalArgumentException("payment.claim-lease-seconds must be at least 1, got " + seconds);
        }
        Duration lease = Duration.ofSeconds(seconds);
        Duration oneInvoice = connectTimeout.plus(readTimeout).multipliedBy(2);
        if (lease.compareTo(oneInvoice) <= 0) {
            LOGGER.warning(() -> "payment.claim-lease-seconds=" + seconds + " is not above one payment and its"
                    + " lookup (" + oneInvoice.toMillis() + " ms): a slow pay run may have invoices taken over");
        }
        return lease;
    }

    /** Health and metrics under /observe, reading the one registry the service writes to. */
    static ObserveFeature observe(MeterRegistry registry, HealthCheck... checks) {
        return ObserveFeature.just(
                HealthObserver.builder().details(true).useSystemServices(true).addChecks(checks).build(),
                MetricsObserver.builder().meterRegistry(registry).build());
    }

    static void routing(HttpRouting.Builder routing, InvoiceStore store, PaymentClient client,
                        int maxInFlight, int maxBodyBytes, MeterRegistry registry) {
        routing(routing, store, client, maxInFlight, maxBodyBytes, registry, "invoice-app");
    }

    static void routing(HttpRouting.Builder routing, InvoiceStore store, PaymentClient client,
                        int maxInFlight, int maxBodyBytes, MeterRegistry registry, String instance) {
        PayRun payRun = new PayRun(store, client, maxInFlight, new PaymentMetrics(registry), instance);
        routing.addFilter(new RequestLog(registry, Main::routeOf))
                .addFeature(new NotFoundFeature())
                .register("/invoices", new InvoiceService(store, payRun, maxBodyBytes))
                .error(BadRequestException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.BAD_REQUEST_400, e.getMessage()))
                .error(BodyReader.TooLargeException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.REQUEST_ENTITY_TOO_LARGE_413, e.getMessage()))
                .error(StoreUnavailableException.class, (req, res, e) -> {
                    LOGGER.warning(e::getMessage);
                    res.header(HeaderNames.RETRY_AFTER, "5");
                    JsonResponses.error(res, Status.SERVICE_UNAVAILABLE_503,
                            "the invoice database is unavailable; try again later");
                })
                .error(Exception.class, (req, res, e) -> {
                    LOGGER.log(Level.WARNING, "request failed", e);
                    JsonResponses.error(res, Status.INTERNAL_SERVER_ERROR_500, "internal error; see the service log");
                });
    }

    /** Closes the connection pool once the server has stopped and no request can use it any more. */
    private record ClosingFeature(InvoiceDatabase database) implements HttpFeature {
        @Override
        public void setup(HttpRouting.Builder routing) {
            // nothing to route
        }

        @Override
        public void afterStop() {
            database.close();
        }
    }

    private static String routeOf(String path) {
        if (path.equals("/invoices") || path.equals("/invoices/pay")) {
            return path;
        }
        if (path.startsWith("/invoices/")) {
            return "/invoices/{id}";
        }
        return path.startsWith("/observe") ? "/observe" : "other";
    }
}
