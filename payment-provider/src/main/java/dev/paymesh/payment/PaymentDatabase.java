package dev.paymesh.payment;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.logging.Logger;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;

/**
 * The payments database of one replica: its connection pool and its schema. Opening it migrates the
 * schema, so a replica never serves against tables it does not know; replicas starting together are
 * safe, because Flyway holds a database lock while it migrates.
 */
public final class PaymentDatabase implements AutoCloseable {

    static final String MIGRATIONS = "classpath:db/migration/payment";

    private static final Logger LOGGER = Logger.getLogger(PaymentDatabase.class.getName());

    /** How long the readiness check lets the database take to answer, in seconds. */
    private static final int VALIDATION_SECONDS = 1;

    private final DatabaseSettings settings;
    private final HikariDataSource pool;

    private PaymentDatabase(DatabaseSettings settings, HikariDataSource pool) {
        this.settings = settings;
        this.pool = pool;
    }

    /**
     * Creates the pool and brings the schema up to date.
     *
     * @throws StartupException when the database cannot be reached or a migration fails
     */
    public static PaymentDatabase open(DatabaseSettings settings) {
        HikariDataSource pool = new HikariDataSource(poolConfig(settings));
        try {
            MigrateResult result = Flyway.configure()
                    .dataSource(pool)
                    .locations(MIGRATIONS)
                    .failOnMissingLocations(true)
                    .connectRetries(settings.migrationRetries())
                    .connectRetriesInterval((int) settings.migrationRetryBackoff().toSeconds())
                    .load()
                    .migrate();
            LOGGER.info(() -> "payment database " + settings.safeUrl() + " at schema version "
                    + (result.targetSchemaVersion == null ? result.initialSchemaVersion : result.targetSchemaVersion)
                    + " (" + result.migrationsExecuted + " migrations applied now)");
            return new PaymentDatabase(settings, pool);
        } catch (RuntimeException e) {
            pool.close();
            throw new StartupException("cannot migrate the payment database at " + settings.safeUrl()
                    + " as user '" + settings.user() + "': " + rootMessage(e), e);
        }
    }

    private static HikariConfig poolConfig(DatabaseSettings settings) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("payment-db");
        config.setJdbcUrl(settings.url());
        config.setUsername(settings.user());
        config.setPassword(settings.password());
        config.setMaximumPoolSize(settings.maxPoolSize());
        config.setConnectionTimeout(settings.connectionTimeout().toMillis());
        config.setValidationTimeout(Math.min(settings.connectionTimeout().toMillis(), VALIDATION_SECONDS * 1000L));
        // The pool starts even while the database is still coming up; the migration retries instead.
        config.setInitializationFailTimeout(-1);
        config.setAutoCommit(true);
        // Bounds what a dead or hung database can cost one request or one new connection.
        long socketSeconds = settings.socketTimeout().toSeconds();
        config.addDataSourceProperty("socketTimeout", Long.toString(socketSeconds));
        config.addDataSourceProperty("connectTimeout", Long.toString(Math.max(1, settings.connectionTimeout().toSeconds())));
        config.addDataSourceProperty("ApplicationName", "payment-provider");
        return config;
    }

    private static String rootMessage(Throwable error) {
        Throwable root = error;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root == error ? String.valueOf(error.getMessage())
                : error.getMessage() + " (caused by: " + root.getMessage() + ")";
        return message.strip();
    }

    public DataSource dataSource() {
        return pool;
    }

    public DatabaseSettings settings() {
        return settings;
    }

    /**
     * A readiness check: a pooled connection that answers within a second. It never takes part in
     * liveness, so a database outage takes replicas out of the load balancer without restarting them.
     */
    public HealthCheck readinessCheck() {
        return new HealthCheck() {
            @Override
            public HealthCheckType type() {
                return HealthCheckType.READINESS;
            }

            @Override
            public String name() {
                return "database";
            }

            @Override
            public HealthCheckResponse call() {
                try (Connection connection = pool.getConnection()) {
                    boolean valid = connection.isValid(VALIDATION_SECONDS);
                    return HealthCheckResponse.builder().status(valid).build();
                } catch (SQLException e) {
                    return HealthCheckResponse.builder().status(false).detail("error", e.getMessage()).build();
                }
            }
        };
    }

    @Override
    public void close() {
        pool.close();
    }

    /** The service cannot start: the database is unreachable or its schema cannot be migrated. */
    public static final class StartupException extends RuntimeException {
        StartupException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
