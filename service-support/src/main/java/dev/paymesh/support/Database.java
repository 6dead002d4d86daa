package dev.paymesh.support;

import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Logger;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.helidon.health.HealthCheck;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;

/**
 * A service's PostgreSQL database: a connection pool, and the schema brought up to date by the
 * migrations in {@code db/migration/<name>} before the server takes any request. Replicas starting
 * together are safe: Flyway serialises migrations with a database lock. A schema on which every
 * migration is already applied, unchanged, is told by one query on Flyway's history, and Flyway
 * is then not loaded ({@link AppliedMigrations}).
 */
public final class Database implements AutoCloseable {

    private static final Logger LOGGER = Logger.getLogger(Database.class.getName());
    private static final Duration LONGEST_PAUSE = Duration.ofSeconds(4);

    private final DatabaseSettings settings;
    private final HikariDataSource pool;
    /** The pool as the stores and the readiness check use it: an outage is logged once, not per request. */
    private final DataSource watched;

    private Database(DatabaseSettings settings, HikariDataSource pool, String name) {
        this.settings = settings;
        this.pool = pool;
        this.watched = new OutageLog("the " + name + " database", System::nanoTime).watch(pool);
    }

    /**
     * Connects and migrates, or fails with a message that says which of the two went wrong; a
     * service that cannot reach its configured database must not start with an empty store.
     *
     * @param name        what the database holds, e.g. {@code invoice}: names its migrations and its messages
     * @param application the name its connections show in {@code pg_stat_activity}
     * @throws StartupException when the database cannot be reached within the start-up wait or cannot be migrated
     */
    public static Database open(DatabaseSettings settings, String name, String application) {
        // In a cluster the database may start after the app (a headless Service has no DNS record
        // until its pod is ready): wait for it to answer, up to db.startup-wait-seconds, rather
        // than exit and be restarted with a growing back-off. Anything but an unreachable server
        // (a wrong password, a failed migration) still fails at once.
        long deadline = System.nanoTime() + settings.startupWait().toNanos();
        Duration pause = Duration.ofMillis(250);
        while (true) {
            try {
                return openOnce(settings, name, application);
            } catch (StartupException e) {
                if (!unreachable(e) || System.nanoTime() + pause.toNanos() > deadline) {
                    throw e;
                }
                LOGGER.info("waiting for the " + name + " database (" + settings + "): " + e.getMessage());
                sleep(pause, name);
                pause = pause.multipliedBy(2).compareTo(LONGEST_PAUSE) > 0 ? LONGEST_PAUSE : pause.multipliedBy(2);
            }
        }
    }

    /**
     * {@link #open} on a thread of its own, so that the caller can prepare what does not need the
     * database (its meters, its clients) while the pool connects and the schema is checked; the
     * caller takes the result with {@link #await} before anything uses the database.
     */
    public static CompletableFuture<Database> openInBackground(DatabaseSettings settings, String name, String application) {
        CompletableFuture<Database> opened = new CompletableFuture<>();
        Thread.ofPlatform().name(name + "-database-open").daemon().start(() -> {
            try {
                opened.complete(open(settings, name, application));
            } catch (Throwable e) {
                opened.completeExceptionally(e);
            }
        });
        return opened;
    }

    /** The database {@link #openInBackground} opened, or what it threw, as {@link #open} would have. */
    public static Database await(CompletableFuture<Database> opening) {
        try {
            return opening.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException failure) {
                throw failure;
            }
            if (e.getCause() instanceof Error error) {
                throw error;
            }
            throw e;
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

    private static void sleep(Duration pause, String name) {
        try {
            Thread.sleep(pause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException("interrupted while waiting for the " + name + " database", e);
        }
    }

    private static Database openOnce(DatabaseSettings settings, String name, String application) {
        HikariDataSource pool;
        try {
            pool = new HikariDataSource(poolConfig(settings, name, application));
        } catch (RuntimeException e) {
            throw new StartupException("cannot connect to the " + name + " database (" + settings + "): "
                    + rootMessage(e), e);
        }
        String location = "db/migration/" + name;
        Optional<String> current = AppliedMigrations.currentVersion(pool, location);
        if (current.isPresent()) {
            LOGGER.info(() -> "the " + name + " database at schema version " + current.get() + " (0 migrations applied now)");
            return new Database(settings, pool, name);
        }
        try {
            MigrateResult result = Flyway.configure()
                    .dataSource(pool)
                    .locations("classpath:" + location)
                    .failOnMissingLocations(true)
                    .load()
                    .migrate();
            LOGGER.info(() -> "the " + name + " database at schema version "
                    + (result.targetSchemaVersion == null ? result.initialSchemaVersion : result.targetSchemaVersion)
                    + " (" + result.migrationsExecuted + " migrations applied now)");
        } catch (RuntimeException e) {
            pool.close();
            throw new StartupException("database migration failed for the " + name + " database (" + settings
                    + "): " + rootMessage(e), e);
        }
        return new Database(settings, pool, name);
    }

    private static HikariConfig poolConfig(DatabaseSettings settings, String name, String application) {
        HikariConfig config = new HikariConfig();
        config.setPoolName(name + "-db");
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
        config.addDataSourceProperty("ApplicationName", application);
        return config;
    }

    public DataSource dataSource() {
        return watched;
    }

    public DatabaseSettings settings() {
        return settings;
    }

    /** Ready while a pooled connection answers within {@code db.health-timeout-millis}. */
    public HealthCheck readinessCheck() {
        return new DatabaseReadinessCheck(watched, settings.healthTimeout());
    }

    public boolean isClosed() {
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
