package dev.paymesh.support;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.logging.ErrorManager;
import java.util.logging.Handler;
import java.util.logging.LogRecord;

/**
 * Writes the one-line-per-request access log to standard output through a buffer flushed on a
 * short period, instead of flushing after every line as the console handler does: at tens of
 * thousands of requests a second the per-line flush costs more than the request itself. A record
 * is written as its message alone; {@link AccessLog}'s writer hands it lines without a record.
 */
public final class AccessLogHandler extends Handler {

    private static final Duration FLUSH_PERIOD = Duration.ofMillis(500);
    private static final String NEWLINE = System.lineSeparator();

    private final Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 64 * 1024);

    public AccessLogHandler() {
        Thread.ofPlatform().daemon().name("access-log-flush").start(this::flushPeriodically);
    }

    @Override
    public void publish(LogRecord record) {
        if (isLoggable(record)) {
            writeLine(record.getMessage());
        }
    }

    /** Writes one line of the access log. */
    synchronized void writeLine(String line) {
        try {
            out.write(line);
            out.write(NEWLINE);
        } catch (IOException e) {
            reportError("access log line not written", e, ErrorManager.WRITE_FAILURE);
        }
    }

    @Override
    public synchronized void flush() {
        try {
            out.flush();
        } catch (IOException e) {
            reportError("access log not flushed", e, ErrorManager.FLUSH_FAILURE);
        }
    }

    /** Flushes; standard output itself stays open for the rest of the process. */
    @Override
    public void close() {
        flush();
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
