package dev.paymesh.payment;

import java.time.Duration;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.DatabaseReadinessCheck;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThan;

/** The readiness check against a live database and a gone one, behind a real pool. */
class DatabaseReadinessCheckTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(1);

    private static HikariDataSource pool(String jdbcUrl, Duration connectionTimeout) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(jdbcUrl);
        config.setUsername(TestPostgres.USER);
        config.setPassword(TestPostgres.PASSWORD);
        config.setConnectionTimeout(connectionTimeout.toMillis());
        config.setInitializationFailTimeout(-1);
        return new HikariDataSource(config);
    }

    @Test
    void liveDatabaseIsReady() {
        try (HikariDataSource pool = pool(TestPostgres.newDatabase(), Duration.ofSeconds(5))) {
            DatabaseReadinessCheck check = new DatabaseReadinessCheck(pool, TIMEOUT);
            assertThat(check.type(), is(HealthCheckType.READINESS));
            assertThat(check.call().status(), is(HealthCheckResponse.Status.UP));
        }
    }

    @Test
    void goneDatabaseIsNotReadyWithinTheBudgetThoughThePoolWouldWaitLonger() {
        String nobodyListens = "jdbc:postgresql://127.0.0.1:" + TestPostgres.freePort() + "/payments";
        try (HikariDataSource pool = pool(nobodyListens, Duration.ofSeconds(10))) {
            long start = System.nanoTime();
            HealthCheckResponse response = new DatabaseReadinessCheck(pool, TIMEOUT).call();
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertThat(response.status(), is(HealthCheckResponse.Status.DOWN));
            assertThat(String.valueOf(response.details().get("error")), is("no answer from the database within 1000 ms"));
            assertThat(took, lessThan(TIMEOUT.plusMillis(500)));
        }
    }
}
