package dev.paymesh.support;

import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/** An outage's lines, on a clock the test moves: one when it begins, a count per interval, one when it ends. */
class OutageLogTest {

    private static final Logger LOGGER = Logger.getLogger(OutageLog.class.getName());

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final LineCapture handler = new LineCapture(record -> record.getLevel() + " " + record.getMessage());
    private final List<String> lines = handler.lines();

    @BeforeEach
    void capture() {
        LOGGER.addHandler(handler);
    }

    @AfterEach
    void release() {
        LOGGER.removeHandler(handler);
    }

    private void advance(Duration by) {
        now.addAndGet(by.toNanos());
    }

    @Test
    void anOutageIsOneLineWhenItBeginsACountPerIntervalAndOneLineWhenItEnds() {
        OutageLog outages = new OutageLog("the test database", now::get);
        var refused = new SQLTransientConnectionException("Connection is not available, request timed out after 500ms");
        outages.succeeded();
        // 100 failed attempts, one every 650 ms: 65 s of outage.
        for (int i = 0; i < 100; i++) {
            outages.failed(refused);
            advance(Duration.ofMillis(650));
        }
        outages.succeeded();
        outages.succeeded();

        assertThat(lines, is(List.of(
                "WARNING the test database is unavailable (Connection is not available, request timed out after 500ms);"
                        + " requests that need it answer 503 until it is back",
                "WARNING the test database is still unavailable, for 30 s now: 47 more attempts to reach it failed"
                        + " in the last 30 s",
                "WARNING the test database is still unavailable, for 61 s now: 47 more attempts to reach it failed"
                        + " in the last 30 s",
                "INFO the test database is back after 65 s; 100 attempts to reach it failed meanwhile")));
    }

    @Test
    void aSecondOutageIsAnnouncedAgain() {
        OutageLog outages = new OutageLog("the test database", now::get);
        var refused = new SQLTransientConnectionException("refused");
        outages.failed(refused);
        outages.succeeded();
        outages.failed(refused);
        outages.failed(refused);
        advance(Duration.ofSeconds(2));
        outages.succeeded();
        assertThat(lines.size(), is(4));
        assertThat(lines.get(2), is("WARNING the test database is unavailable (refused);"
                + " requests that need it answer 503 until it is back"));
        assertThat(lines.get(3), is("INFO the test database is back after 2 s; 2 attempts to reach it failed meanwhile"));
    }
}
