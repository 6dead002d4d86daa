package dev.paymesh.support;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

import javax.sql.DataSource;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;

/**
 * Readiness only: a replica whose database is away takes no traffic, but it is not restarted for it
 * (liveness does not look here), since a restart would not bring the database back.
 *
 * <p>Borrowing a connection from the pool waits up to the pool's connection timeout while the
 * database is down, which is longer than a probe may take; so the probe waits a bounded time, and a
 * probe still waiting from an earlier call is joined rather than a new one started.
 */
public final class DatabaseReadinessCheck implements HealthCheck {

    private final DataSource dataSource;
    private final Duration timeout;
    private final AtomicReference<CompletableFuture<String>> running = new AtomicReference<>();

    public DatabaseReadinessCheck(DataSource dataSource, Duration timeout) {
        this.dataSource = dataSource;
        this.timeout = timeout;
    }

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
        String problem;
        try {
            problem = probe().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            problem = "no answer from the database within " + timeout.toMillis() + " ms";
        } catch (ExecutionException e) {
            problem = String.valueOf(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            problem = "interrupted";
        }
        HealthCheckResponse.Builder response = HealthCheckResponse.builder().status(problem == null);
        if (problem != null) {
            response.detail("error", problem);
        }
        return response.build();
    }

    /** The probe in flight, or a new one; it completes with null when healthy, or with what is wrong. */
    private CompletableFuture<String> probe() {
        while (true) {
            CompletableFuture<String> current = running.get();
            if (current != null && !current.isDone()) {
                return current;
            }
            CompletableFuture<String> next = new CompletableFuture<>();
            if (running.compareAndSet(current, next)) {
                Thread.ofVirtual().name("database-readiness").start(() -> next.complete(check()));
                return next;
            }
        }
    }

    private String check() {
        int seconds = (int) Math.max(1, timeout.toSeconds());
        try (Connection connection = dataSource.getConnection()) {
            return connection.isValid(seconds) ? null : "the database did not answer a validation query";
        } catch (SQLException | RuntimeException e) {
            return String.valueOf(e.getMessage());
        }
    }
}
