package dev.paymesh.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.is;

/**
 * The access log's lines are the ones the services always wrote: {@code Instant.toString()} for
 * the time and {@code Double.toString(micros / 1000.0)} for the milliseconds, whatever the writer
 * does to be cheap; and every line reaches the logger's handlers.
 */
class AccessLogTest {

    /** The line as the services wrote it before the access log had a writer of its own. */
    private static String expected(AccessLog.Entry e) {
        return e.time() + " " + e.method() + " " + e.path() + " " + e.status() + " "
                + (e.nanos() / 1_000) / 1000.0 + "ms request-id=" + e.requestId();
    }

    @Test
    void timesAreWrittenAsInstantWritesThem() {
        AccessLog.LineFormat format = new AccessLog.LineFormat();
        long second = Instant.parse("2026-12-03T08:08:19Z").getEpochSecond();
        int[] nanos = {0, 1, 999, 1_000, 10_000, 120_000, 999_999, 1_000_000, 7_000_000, 100_000_000, 123_456_789,
                500_000_000, 999_000_000, 999_999_000, 999_999_999};
        for (long s : new long[] {second, second + 1, second + 86_400, 0, 253_402_300_799L, 253_402_300_800L, -1}) {
            for (int nano : nanos) {
                var entry = new AccessLog.Entry(Instant.ofEpochSecond(s, nano), "GET", "/invoices", 200, 1_000_000, "-");
                assertThat(format.format(entry), is(expected(entry)));
            }
        }
    }

    @Test
    void durationsAreWrittenAsDoubleWritesThem() {
        AccessLog.LineFormat format = new AccessLog.LineFormat();
        Instant time = Instant.parse("2026-12-03T08:08:19.726123Z");
        RandomGenerator random = RandomGeneratorFactory.getDefault().create(42);
        for (long micros = 0; micros < 200_000; micros++) {
            var entry = new AccessLog.Entry(time, "POST", "/payments/pay", 201, micros * 1_000 + 999, "abc-1");
            assertThat(format.format(entry), is(expected(entry)));
        }
        for (int i = 0; i < 100_000; i++) {
            long nanos = random.nextLong(0, Long.MAX_VALUE);
            var entry = new AccessLog.Entry(time, "GET", "/invoices/{id}", 404, nanos >>> random.nextInt(0, 63), "-");
            assertThat(format.format(entry), is(expected(entry)));
        }
        var negative = new AccessLog.Entry(time, "GET", "/", 500, -2_500_000, "-");
        assertThat(format.format(negative), is(expected(negative)));
    }

    @Test
    void everyLineReachesTheLoggersHandlers() {
        LineCapture capture = new LineCapture();
        List<String> lines = capture.lines();
        AccessLog.LOGGER.addHandler(capture);
        try {
            Instant time = Instant.parse("2026-12-03T08:08:19.5Z");
            for (int i = 0; i < 1000; i++) {
                AccessLog.log(time, "GET", "/invoices/I" + i, 200, 2_000_000, "r" + i);
            }
            AccessLog.awaitWritten();
            assertThat(lines.size(), is(1000));
            assertThat(lines.subList(998, 1000), contains(
                    "2026-12-03T08:08:19.500Z GET /invoices/I998 200 2.0ms request-id=r998",
                    "2026-12-03T08:08:19.500Z GET /invoices/I999 200 2.0ms request-id=r999"));
        } finally {
            AccessLog.LOGGER.removeHandler(capture);
        }
    }

    /**
     * A service stopped while its first request is answered: the access log's first line comes
     * after the JVM began to shut down, when no shutdown hook can be added any more. The line is
     * written at once and the log keeps working, rather than the class failing to initialise for
     * every request after it.
     */
    @Test
    void aFirstLineDuringShutdownIsWritten() throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                "-Djava.util.logging.manager=" + AccessLogAtShutdown.KeepingLogManager.class.getName(),
                AccessLogAtShutdown.class.getName())
                .redirectErrorStream(true)
                .start();
        assertThat("the process ended", child.waitFor(60, TimeUnit.SECONDS), is(true));
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(output, output.strip().lines().filter(l -> l.startsWith("lines ") || l.startsWith("failed ")).toList(),
                contains("lines [2026-12-04T05:00:00Z GET /observe/health/ready 200 1.0ms request-id=-, "
                        + "2026-12-04T05:00:00Z GET /invoices 200 2.0ms request-id=r2]"));
    }
}
