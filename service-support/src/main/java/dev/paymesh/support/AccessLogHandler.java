package dev.paymesh.support;

import java.io.PrintStream;
import java.time.Duration;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;
import java.util.logging.StreamHandler;

/**
 * Writes the one-line-per-request access log to standard output through a buffer flushed on a
 * short period, instead of flushing after every line as the console handler does: at tens of
 * thousands of requests a second the per-line flush costs more than the request itself.
 */
public final class AccessLogHandler extends StreamHandler {

    private static final Duration FLUSH_PERIOD = Duration.ofMillis(500);

    public AccessLogHandler() {
        super(new PrintStream(System.out, false), new Formatter() {
            @Override
            public String format(LogRecord record) {
                return record.getMessage() + System.lineSeparator();
            }
        });
        Thread.ofPlatform().daemon().name("access-log-flush").start(this::flushPeriodically);
    }

    private void flushPeriodically() {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(FLUSH_PERIOD);
                flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
