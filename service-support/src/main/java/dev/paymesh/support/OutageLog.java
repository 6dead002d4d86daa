package dev.paymesh.support;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

import javax.sql.DataSource;

/**
 * A database outage in the log as an operator wants it: one warning when it begins, then at most
 * one line per {@link #REPORT_EVERY} with how many attempts to reach the database failed meanwhile,
 * and one line when it ends. Every request of an outage fails the same known way (a 503), so a
 * line per request would bury everything else in the log.
 *
 * <p>It watches the one place every store and the readiness check pass through: borrowing a
 * connection from the pool ({@link #watch}).
 */
final class OutageLog {

    static final Duration REPORT_EVERY = Duration.ofSeconds(30);

    private static final Logger LOGGER = Logger.getLogger(OutageLog.class.getName());
    private static final int VALIDATION_SECONDS = 1;

    private final String database;
    private final LongSupplier nanoTime;
    private volatile boolean down;
    private long downSince;
    private long lastReport;
    private long failedSinceReport;
    private long failedInOutage;

    /** @param database what is watched, as the log names it: {@code the invoice database} */
    OutageLog(String database, LongSupplier nanoTime) {
        this.database = database;
        this.nanoTime = nanoTime;
    }

    /** An attempt to reach the database failed. */
    synchronized void failed(Throwable cause) {
        long now = nanoTime.getAsLong();
        if (!down) {
            down = true;
            downSince = now;
            lastReport = now;
            failedSinceReport = 0;
            failedInOutage = 1;
            LOGGER.warning(() -> database + " is unavailable (" + cause.getMessage()
                    + "); requests that need it answer 503 until it is back");
            return;
        }
        failedInOutage++;
        failedSinceReport++;
        if (now - lastReport >= REPORT_EVERY.toNanos()) {
            long failed = failedSinceReport;
            long seconds = Duration.ofNanos(now - lastReport).toSeconds();
            long lasting = Duration.ofNanos(now - downSince).toSeconds();
            LOGGER.warning(() -> database + " is still unavailable, for " + lasting + " s now: " + failed
                    + " more attempts to reach it failed in the last " + seconds + " s");
            lastReport = now;
            failedSinceReport = 0;
        }
    }

    /** An attempt to reach the database succeeded: ends an outage, if there was one. */
    void succeeded() {
        if (!down) {
            return; // the common case, without a lock
        }
        synchronized (this) {
            if (!down) {
                return;
            }
            down = false;
            long lasted = Duration.ofNanos(nanoTime.getAsLong() - downSince).toSeconds();
            long failed = failedInOutage;
            LOGGER.info(() -> database + " is back after " + lasted + " s; " + failed
                    + " attempts to reach it failed meanwhile");
        }
    }

    /** The pool, with every connection borrowed from it reported here. */
    DataSource watch(DataSource pool) {
        return new WatchedDataSource(pool, this);
    }

    /** Hands out the pool's connections, telling the outage log whether it could. */
    private record WatchedDataSource(DataSource pool, OutageLog outages) implements DataSource {

        @Override
        public Connection getConnection() throws SQLException {
            Connection connection;
            try {
                connection = pool.getConnection();
            } catch (SQLException | RuntimeException e) {
                outages.failed(e);
                throw e;
            }
            if (outages.down) {
                // The pool hands out a connection used a moment ago without asking the database,
                // so during an outage only an answer from the database ends it.
                if (!connection.isValid(VALIDATION_SECONDS)) {
                    outages.failed(new SQLException("a pooled connection did not answer"));
                    return connection; // its statement fails as the others did
                }
            }
            outages.succeeded();
            return connection;
        }

        @Override
        public Connection getConnection(String username, String password) throws SQLException {
            throw new SQLFeatureNotSupportedException("the pool's connections all use the configured user");
        }

        @Override
        public PrintWriter getLogWriter() throws SQLException {
            return pool.getLogWriter();
        }

        @Override
        public void setLogWriter(PrintWriter out) throws SQLException {
            pool.setLogWriter(out);
        }

        @Override
        public void setLoginTimeout(int seconds) throws SQLException {
            pool.setLoginTimeout(seconds);
        }

        @Override
        public int getLoginTimeout() throws SQLException {
            return pool.getLoginTimeout();
        }

        @Override
        public Logger getParentLogger() throws SQLFeatureNotSupportedException {
            return pool.getParentLogger();
        }

        @Override
        public <T> T unwrap(Class<T> type) throws SQLException {
            return type.isInstance(this) ? type.cast(this) : pool.unwrap(type);
        }

        @Override
        public boolean isWrapperFor(Class<?> type) throws SQLException {
            return type.isInstance(this) || pool.isWrapperFor(type);
        }
    }
}
