package dev.paymesh.payment;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import javax.sql.DataSource;

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

    @Test
    void concurrentProbesWhileThePoolIsSlowShareOneCheck() throws Exception {
        String nobodyListens = "jdbc:postgresql://127.0.0.1:" + TestPostgres.freePort() + "/payments";
        // The pool waits 10 s for a connection: every probe in that time would start its own check.
        try (HikariDataSource pool = pool(nobodyListens, Duration.ofSeconds(10))) {
            AtomicInteger borrowed = new AtomicInteger();
            DataSource counted = countingBorrows(pool, borrowed);
            DatabaseReadinessCheck check = new DatabaseReadinessCheck(counted, TIMEOUT);
            int probes = 16;
            CountDownLatch start = new CountDownLatch(1);
            List<Future<HealthCheckResponse>> responses = new ArrayList<>();
            try (ExecutorService kubelets = Executors.newFixedThreadPool(probes)) {
                for (int i = 0; i < probes; i++) {
                    responses.add(kubelets.submit(() -> {
                        start.await();
                        return check.call();
                    }));
                }
                start.countDown();
                for (Future<HealthCheckResponse> response : responses) {
                    assertThat(response.get().status(), is(HealthCheckResponse.Status.DOWN));
                }
            }
            assertThat("one check served every probe", borrowed.get(), is(1));
        }
    }

    /** The pool, counting every connection asked of it. */
    private static DataSource countingBorrows(HikariDataSource pool, AtomicInteger borrowed) {
        return (DataSource) Proxy.newProxyInstance(DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("getConnection")) {
                        borrowed.incrementAndGet();
                    }
                    try {
                        return method.invoke(pool, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
