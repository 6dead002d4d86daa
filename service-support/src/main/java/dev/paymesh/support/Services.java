package dev.paymesh.support;

import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.helidon.config.Config;
import io.helidon.health.HealthCheck;
import io.helidon.logging.common.LogConfig;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.Metrics;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.observe.ObserveFeature;
import io.helidon.webserver.observe.health.HealthObserver;
import io.helidon.webserver.observe.metrics.MetricsObserver;

/** Starting a service the same way in both: its server, its observe endpoints, its database's life. */
public final class Services {

    private Services() {
    }

    /**
     * The body of a service's {@code main}: configuration from application.yaml overridden by
     * environment variables (Helidon looks {@code db.pool.max-size} up as {@code DB_POOL_MAX_SIZE}
     * too); a service that cannot start exits 1 with one line that says why.
     */
    public static void main(String service, Function<Config, WebServer> start) {
        pinGlobalMappers();
        LogConfig.configureRuntime();
        Logger logger = Logger.getLogger(Services.class.getName());
        try {
            Config config = Config.create();
            shareConfig(config);
            start.apply(config);
        } catch (RuntimeException e) {
            logger.severe(service + " cannot start: " + e.getMessage());
            logger.log(Level.FINE, "start-up failure", e);
            System.exit(1);
        }
    }

    /**
     * Makes the service's configuration the one Helidon's parts look up in the registry. Without it,
     * the first of them (the metrics factory, for its {@code metrics} node) has the registry build a
     * second configuration from the same application.yaml, environment and system properties.
     */
    static void shareConfig(Config config) {
        io.helidon.service.registry.Services.set(Config.class, config);
    }

    /**
     * Gives Helidon its global mappers before anything looks them up. Helidon 4.4 otherwise finds
     * them in its service registry on every typed read of a header or query value, the
     * Content-Length of every request with a body among them (Http1Connection): about 11 us a
     * lookup, which JFR showed as 31% of payment-provider's samples under POST /payments/pay (the
     * registry's lookup cache only brings it to 7 us). Set first, the same instance also becomes the
     * registry's, so every part of the service uses one; the setter is deprecated for Helidon 5,
     * which no longer looks mappers up per read.
     */
    @SuppressWarnings("removal")
    static void pinGlobalMappers() {
        io.helidon.common.mapper.MapperManager.global(io.helidon.common.mapper.MapperManager.create());
    }

    /** The registry every meter of a service is in, and that /observe/metrics reads. */
    public static MeterRegistry registry() {
        return Metrics.globalRegistry();
    }

    /**
     * Health and metrics under /observe, configured by {@code server.features.observe}, with the
     * service's own checks (its database) added to the built-in ones.
     */
    public static ObserveFeature observe(Config config, List<HealthCheck> checks) {
        Config observe = config.get("server.features.observe");
        return ObserveFeature.builder()
                .config(observe)
                .addObserver(HealthObserver.builder()
                        .config(observe.get("observers.health"))
                        .useSystemServices(true)
                        .addChecks(checks.toArray(HealthCheck[]::new))
                        .build())
                .addObserver(MetricsObserver.builder()
                        .config(observe.get("observers.metrics"))
                        .meterRegistry(registry())
                        .build())
                .build();
    }

    /**
     * Builds and starts the server described by {@code server}; port 0 picks a free port. The
     * database, when there is one, is closed again when the server stops, or at once when it cannot
     * start. Once it listens, one line says so, with the store and the service's own settings.
     *
     * @param service  the service's name, first in that line
     * @param settings what else the line tells, e.g. {@code max body 65536 bytes}
     * @throws StartupException when the server does not start
     */
    public static WebServer serve(Config config, String service, Optional<Database> database,
                                  Consumer<HttpRouting.Builder> routes, String settings) {
        return serve(config, service, database, routes, settings, List.of());
    }

    /**
     * As {@link #serve(Config, String, Optional, Consumer, String)}, and also closes {@code others}
     * (clients the service opened) when the server stops, or at once when it cannot start.
     */
    public static WebServer serve(Config config, String service, Optional<Database> database,
                                  Consumer<HttpRouting.Builder> routes, String settings, List<AutoCloseable> others) {
        try {
            List<HealthCheck> checks = database.map(db -> List.of(db.readinessCheck())).orElse(List.of());
            WebServer server = WebServer.builder()
                    .config(config.get("server"))
                    .addFeature(observe(config, checks))
                    .routing(routing -> {
                        routes.accept(routing);
                        database.ifPresent(db -> routing.addFeature(new CloseOnStop(db)));
                        others.forEach(other -> routing.addFeature(new CloseOnStop(other)));
                    })
                    .build()
                    .start();
            if (!server.isRunning()) {
                // Helidon logs the bind failure and returns a stopped server; without this the
                // process would go on to exit 0 as if it had served.
                throw new StartupException("the server did not start: is port "
                        + config.get("server.port").asString().orElse("?") + " already in use? (see the log above)", null);
            }
            String store = database.map(db -> "postgresql, " + db.settings()).orElse("in-memory");
            Logger.getLogger(Services.class.getName()).info(() -> service + " listening on port " + server.port()
                    + " (store: " + store + ", " + settings + ")");
            return server;
        } catch (RuntimeException e) {
            database.ifPresent(Database::close);
            for (AutoCloseable other : others) {
                try {
                    other.close();
                } catch (Exception closeFailed) {
                    e.addSuppressed(closeFailed);
                }
            }
            throw e;
        }
    }
}
