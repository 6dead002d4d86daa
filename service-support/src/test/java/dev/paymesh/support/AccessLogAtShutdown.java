package dev.paymesh.support;

import java.time.Instant;
import java.util.List;
import java.util.logging.LogManager;

/**
 * A process whose first access-log lines come while the JVM shuts down, as when a service is
 * stopped while its first request is answered: {@link AccessLogTest} runs it and reads what it
 * prints, one line with the lines its handler got, or the error the logging threw.
 */
public final class AccessLogAtShutdown {

    private AccessLogAtShutdown() {
    }

    /** Keeps the handlers at exit, so that what a shutdown hook logs still reaches them. */
    public static final class KeepingLogManager extends LogManager {
        @Override
        public void reset() {
        }
    }

    public static void main(String[] args) {
        LineCapture capture = new LineCapture();
        List<String> lines = capture.lines();
        java.util.logging.Logger.getLogger("dev.paymesh.access").addHandler(capture);
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(() -> {
            try {
                Instant time = Instant.parse("2026-12-04T05:00:00Z");
                AccessLog.log(time, "GET", "/observe/health/ready", 200, 1_000_000, "-");
                AccessLog.log(time, "GET", "/invoices", 200, 2_000_000, "r2");
                System.out.println("lines " + lines);
            } catch (Throwable e) {
                System.out.println("failed " + e);
            }
        }));
    }
}
