package dev.paymesh.payment;

import java.util.logging.Logger;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.helidon.health.HealthCheck;
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
        // Hikari checks an idle connection before lending it; a live database answers that well within a second.
        config.setValidationTimeout(Math.min(settings.connectionTimeout().toMillis(), 1000L));
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

    /** Ready while a pooled connection answers; see {@link DatabaseReadinessCheck}. */
    public HealthCheck readinessCheck() {
        return new DatabaseReadinessCheck(pool);
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
