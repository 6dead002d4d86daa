package dev.paymesh.payment;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import javax.sql.DataSource;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;

/**
 * Ready only while a pooled connection answers within the budget. The budget bounds the whole
 * check, waiting for the pool included, so a probe gets its answer in time even while the pool
 * would wait longer for a database that is gone. Never a liveness check: an outage takes replicas
 * out of the load balancer, it must not get them restarted.
 */
final class DatabaseReadinessCheck implements HealthCheck {

    static final Duration BUDGET = Duration.ofSeconds(1);

    private final DataSource dataSource;

    DatabaseReadinessCheck(DataSource dataSource) {
        this.dataSource = dataSource;
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
        // On its own thread, which closes the connection whenever it comes, even after the budget.
        CompletableFuture<HealthCheckResponse> probe = new CompletableFuture<>();
        Thread.ofVirtual().name("payment-db-readiness").start(() -> probe.complete(probe()));
        try {
            return probe.get(BUDGET.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return down("no answer from the database within " + BUDGET.toMillis() + " ms");
        } catch (ExecutionException e) {
            return down(String.valueOf(e.getCause()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return down("interrupted");
        }
    }

    private HealthCheckResponse probe() {
        try (Connection connection = dataSource.getConnection()) {
            return connection.isValid((int) BUDGET.toSeconds())
                    ? HealthCheckResponse.builder().status(true).build()
                    : down("the connection did not answer");
        } catch (SQLException | RuntimeException e) {
            return down(e.getMessage());
        }
    }

    private static HealthCheckResponse down(String reason) {
        return HealthCheckResponse.builder().status(false).detail("error", String.valueOf(reason)).build();
    }
}
