package dev.paymesh.invoice;

import java.sql.SQLException;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.logging.Logger;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.helidon.config.Config;
import org.flywaydb.core.Flyway;

/**
 * The PostgreSQL database behind {@link JdbcInvoiceStore}: a connection pool, and the schema brought
 * up to date by the migrations in {@code db/migration/invoice} before the server takes any request.
 * Replicas starting together are safe: Flyway serialises migrations with a database lock.
 */
final class InvoiceDatabase implements AutoCloseable {

    /** The settings under {@code db}; without {@code db.url} the service keeps invoices in memory. */
    record Settings(String url, String user, String password, int maxPoolSize, Duration connectionTimeout,
                    Duration socketTimeout, Duration startupWait) {

        Settings {
            Objects.requireNonNull(url, "url");
            if (maxPoolSize < 1) {
                throw new IllegalArgumentException("db.pool.max-size must be at least 1, got " + maxPoolSize);
            }
            // HikariCP refuses less than 250 ms.
            if (connectionTimeout.toMillis() < 250) {
                throw new IllegalArgumentException("db.pool.connection-timeout-millis must be at least 250, got "
                        + connectionTimeout.toMillis());
            }
        }

        static Optional<Settings> from(Config db) {
            return db.get("url").asString().map(String::strip).filter(url -> !url.isEmpty())
                    .map(url -> new Settings(url,
                            db.get("user").asString().orElse(null),
                            db.get("password").asString().orElse(null),
                            db.get("pool.max-size").asInt().orElse(10),
                            Duration.ofMillis(db.get("pool.connection-timeout-millis").asLong().orElse(3000L)),
                            Duration.ofSeconds(db.get("socket-timeout-seconds").asLong().orElse(30L)),
                            Duration.ofSeconds(Math.max(0, db.get("startup-wait-seconds").asLong().orElse(60L)))));
        }

        @Override
        public String toString() {
            // Never the password, not even one written into the URL.
            return "url=" + url.replaceAll("(?i)(password=)[^&]*", "$1***") + ", user=" + user
                    + ", pool max-size=" + maxPoolSize
                    + ", connection-timeout=" + connectionTimeout.toMillis() + "ms";
        }
    }

    private static final Logger LOGGER = Logger.getLogger(InvoiceDatabase.class.getName());
    private static final Duration LONGEST_PAUSE = Duration.ofSeconds(4);

    private final HikariDataSource pool;

    private InvoiceDatabase(HikariDataSource pool) {
        this.pool = pool;
    }

    /**
     * Connects and migrates, or fails with a message that says which of the two went wrong; a
     * service that cannot reach its configured database must not start with an empty store.
     */
    static InvoiceDatabase open(Settings settings) {
        // In a cluster the database may start after the app (a headless Service has no DNS record
        // until its pod is ready): wait for it to answer, up to db.startup-wait-seconds, rather
        // than exit and be restarted with a growing back-off. Anything but an unreachable server
        // (a wrong password, a failed migration) still fails at once.
        long deadline = System.nanoTime() + settings.startupWait().toNanos();
        Duration pause = Duration.ofMillis(250);
        while (true) {
            try {
                return openOnce(settings);
            } catch (IllegalStateException e) {
                if (!unreachable(e) || System.nanoTime() + pause.toNanos() > deadline) {
                    throw e;
                }
                LOGGER.info("waiting for the invoice database (" + settings + "): " + e.getMessage());
                sleep(pause);
                pause = pause.multipliedBy(2).compareTo(LONGEST_PAUSE) > 0 ? LONGEST_PAUSE : pause.multipliedBy(2);
            }
        }
    }

    /** SQLState class 08: the connection could not be made (refused, unknown host, timed out). */
    private static boolean unreachable(Throwable failure) {
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            if (cause instanceof SQLException sql && sql.getSQLState() != null && sql.getSQLState().startsWith("08")) {
                return true;
            }
            if (cause.getCause() == cause) {
                break;
            }
        }
        return false;
    }

    private static void sleep(Duration pause) {
        try {
            Thread.sleep(pause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the invoice database", e);
        }
    }

    private static InvoiceDatabase openOnce(Settings settings) {
        HikariDataSource pool;
        try {
            pool = new HikariDataSource(poolConfig(settings));
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot connect to the invoice database (" + settings + "): "
                    + rootMessage(e), e);
        }
        try {
            Flyway.configure()
                    .dataSource(pool)
                    .locations("classpath:db/migration/invoice")
                    .load()
                    .migrate();
        } catch (RuntimeException e) {
            pool.close();
            throw new IllegalStateException("database migration failed for the invoice database (" + settings
                    + "): " + rootMessage(e), e);
        }
        return new InvoiceDatabase(pool);
    }

    private static HikariConfig poolConfig(Settings settings) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("invoice-db");
        config.setJdbcUrl(settings.url());
        config.setUsername(settings.user());
        config.setPassword(settings.password());
        config.setMaximumPoolSize(settings.maxPoolSize());
        // How long a request waits for a connection before it fails with 503.
        config.setConnectionTimeout(settings.connectionTimeout().toMillis());
        config.setValidationTimeout(Math.min(1000, settings.connectionTimeout().toMillis()));
        // Driver defaults, which parameters in the URL override: bounded connects, and no read that
        // hangs for the TCP timeout when the database host vanishes without closing the socket.
        long connectSeconds = Math.max(1, settings.connectionTimeout().toSeconds());
        config.addDataSourceProperty("connectTimeout", Long.toString(connectSeconds));
        config.addDataSourceProperty("socketTimeout", Long.toString(settings.socketTimeout().toSeconds()));
        config.addDataSourceProperty("tcpKeepAlive", "true");
        config.addDataSourceProperty("ApplicationName", "invoice-app");
        return config;
    }

    DataSource dataSource() {
        return pool;
    }

    boolean isClosed() {
        return pool.isClosed();
    }

    @Override
    public void close() {
        pool.close();
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        return root == e ? message : e.getMessage() + "; cause: " + message;
    }
}
