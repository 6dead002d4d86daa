package dev.paymesh.invoice;

import java.time.Duration;
import java.util.logging.Level;
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

/** Starts invoice-app: configuration from application.yaml, overridden by environment variables. */
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
        Config provider = config.get("payment.provider");
        String providerUrl = provider.get("url").asString().orElse("http://localhost:8082");
        Duration connectTimeout = Duration.ofMillis(provider.get("connect-timeout-millis").asLong().orElse(2000L));
        Duration readTimeout = Duration.ofMillis(provider.get("read-timeout-millis").asLong().orElse(5000L));
        int maxInFlight = config.get("payment.max-in-flight").asInt().orElse(32);
        int maxBodyBytes = config.get("invoices.max-body-bytes").asInt().orElse(65536);
        MeterRegistry registry = Metrics.globalRegistry();
        InvoiceStore store = InMemoryInvoiceStore.seeded();
        PaymentClient client = new PaymentClient(providerUrl, connectTimeout, readTimeout);
        WebServer server = WebServer.builder()
                .config(config.get("server"))
                .addFeature(observe(registry))
                .routing(routing -> routing(routing, store, client, maxInFlight, maxBodyBytes, registry))
                .build()
                .start();
        LOGGER.info(() -> "invoice-app listening on port " + server.port() + " (store: in-memory"
                + ", payment.provider.url=" + providerUrl + ", connect-timeout=" + connectTimeout.toMillis()
                + "ms, read-timeout=" + readTimeout.toMillis() + "ms, payment.max-in-flight=" + maxInFlight
                + ", max body " + maxBodyBytes + " bytes)");
        return server;
    }

    /** Health and metrics under /observe, reading the one registry the service writes to. */
    static ObserveFeature observe(MeterRegistry registry) {
        return ObserveFeature.just(
                HealthObserver.builder().details(true).useSystemServices(true).build(),
                MetricsObserver.builder().meterRegistry(registry).build());
    }

    static void routing(HttpRouting.Builder routing, InvoiceStore store, PaymentClient client,
                        int maxInFlight, int maxBodyBytes, MeterRegistry registry) {
        PayRun payRun = new PayRun(store, client, maxInFlight, new PaymentMetrics(registry));
        routing.addFilter(new RequestLog(registry, Main::routeOf))
                .addFeature(new NotFoundFeature())
                .register("/invoices", new InvoiceService(store, payRun, maxBodyBytes))
                .error(BadRequestException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.BAD_REQUEST_400, e.getMessage()))
                .error(BodyReader.TooLargeException.class,
                        (req, res, e) -> JsonResponses.error(res, Status.REQUEST_ENTITY_TOO_LARGE_413, e.getMessage()))
                .error(Exception.class, (req, res, e) -> {
                    LOGGER.log(Level.WARNING, "request failed", e);
                    JsonResponses.error(res, Status.INTERNAL_SERVER_ERROR_500, "internal error; see the service log");
                });
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
