package dev.paymesh.support;

import java.time.Instant;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The access log: one line per request, {@code <instant> <method> <path> <status> <ms>ms request-id=<id>},
 * e.g. {@code 2026-12-03T08:08:19.726123Z GET /invoices 200 0.113ms request-id=-}.
 * <p>
 * A request thread only queues what the line needs (a lock-free queue, no formatting, no lock); one
 * writer thread formats the lines and hands them to the {@code dev.paymesh.access} logger's handlers.
 * When that logger has only its {@link AccessLogHandler} (the services' logging.properties), the
 * line goes to it as text, without a {@link LogRecord}; any other handler (a test's, an operator's)
 * gets the usual record. Should the writer fall far behind, a request thread writes its own line,
 * so no line is dropped and the queue stays bounded.
 */
public final class AccessLog {

    static final Logger LOGGER = Logger.getLogger("dev.paymesh.access");

    /** Lines waiting beyond this are written by the request threads themselves. */
    private static final int MAX_QUEUED = 65_536;
    /** How long the writer sleeps when the queue is empty. */
    private static final long IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

    private static final ConcurrentLinkedQueue<Entry> QUEUE = new ConcurrentLinkedQueue<>();
    private static final AtomicLong QUEUED = new AtomicLong();
    private static final AtomicLong WRITTEN = new AtomicLong();
    private static final LineFormat FORMAT = new LineFormat();
    private static final Thread WRITER = Thread.ofPlatform().daemon().name("access-log-writer").unstarted(AccessLog::writeForever);

    /**
     * True when the JVM was already shutting down as the first line came (so no hook could drain
     * the queue at exit): every line is then written by its request thread.
     */
    private static final boolean DIRECT;

    static {
        WRITER.start();
        boolean direct = false;
        try {
            Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(AccessLog::drainQueue));
        } catch (IllegalStateException shuttingDown) {
            direct = true;
        }
        DIRECT = direct;
    }

    private AccessLog() {
    }

    /** What one line says; formatted on the writer thread. */
    record Entry(Instant time, String method, String path, int status, long nanos, String requestId) {
    }

    /** Logs one request: queues its line, or writes it at once when the queue is full. */
    static void log(Instant time, String method, String path, int status, long nanos, String requestId) {
        if (!LOGGER.isLoggable(Level.INFO)) {
            return;
        }
        Entry entry = new Entry(time, method, path, status, nanos, requestId);
        long queued = QUEUED.incrementAndGet();
        if (DIRECT || queued - WRITTEN.get() > MAX_QUEUED) {
            // The writer cannot keep up (its output blocked): this thread waits on the output instead.
            synchronized (FORMAT) {
                write(entry, ownHandlerAlone());
            }
            WRITTEN.incrementAndGet();
            return;
        }
        QUEUE.offer(entry);
    }

    /**
     * Waits until every line queued before this call has been handed to the handlers (at most 5 s):
     * for a reader of the log, such as a test, that must see the line of a request just answered.
     */
    public static void awaitWritten() {
        long target = QUEUED.get();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (WRITTEN.get() < target && System.nanoTime() < deadline) {
            LockSupport.unpark(WRITER);
            LockSupport.parkNanos(100_000);
        }
    }

    private static void writeForever() {
        while (true) {
            if (!drainQueue()) {
                LockSupport.parkNanos(IDLE_NANOS);
            }
        }
    }

    /** Writes every queued line; false when there was none. */
    private static boolean drainQueue() {
        Entry entry = QUEUE.poll();
        if (entry == null) {
            return false;
        }
        synchronized (FORMAT) {
            AccessLogHandler own = ownHandlerAlone();
            do {
                try {
                    write(entry, own);
                } catch (RuntimeException e) {
                    // A handler that fails must not stop the access log of the requests after it.
                    Logger.getLogger(AccessLog.class.getName()).log(Level.WARNING, "access log line not written", e);
                }
                WRITTEN.incrementAndGet();
                entry = QUEUE.poll();
            } while (entry != null);
        }
        return true;
    }

    /**
     * The access log's own handler when it is the only one a line reaches and takes every INFO line
     * (the services' configuration), else null: then lines go through the logger as records.
     */
    private static AccessLogHandler ownHandlerAlone() {
        Handler[] handlers = LOGGER.getHandlers();
        if (handlers.length == 1 && handlers[0] instanceof AccessLogHandler own && !LOGGER.getUseParentHandlers()
                && own.getFilter() == null && own.getLevel().intValue() <= Level.INFO.intValue()) {
            return own;
        }
        return null;
    }

    private static void write(Entry entry, AccessLogHandler own) {
        String line = FORMAT.format(entry);
        if (own != null) {
            own.writeLine(line);
            return;
        }
        LogRecord record = new LogRecord(Level.INFO, line);
        record.setLoggerName(LOGGER.getName());
        record.setInstant(entry.time());
        LOGGER.log(record);
    }

    /**
     * The text of a line, as {@code Instant.toString()} and {@code Double.toString()} would write
     * its time and milliseconds, with the date and time of day formatted once per second. Not
     * thread-safe: used under the writer's lock.
     */
    static final class LineFormat {

        private final StringBuilder line = new StringBuilder(160);
        private long second = Long.MIN_VALUE;
        private String secondText = "";

        String format(Entry entry) {
            line.setLength(0);
            appendInstant(entry.time());
            line.append(' ').append(entry.method()).append(' ').append(entry.path()).append(' ')
                    .append(entry.status()).append(' ');
            appendMillis(entry.nanos() / 1_000);
            line.append("ms request-id=").append(entry.requestId());
            return line.toString();
        }

        /** As {@link Instant#toString()}: the fraction in groups of three digits, none when zero. */
        private void appendInstant(Instant time) {
            long epochSecond = time.getEpochSecond();
            if (epochSecond != second) {
                String whole = Instant.ofEpochSecond(epochSecond).toString();
                if (!whole.endsWith("Z")) {
                    // Outside the years the fast path expects: write it as Instant does.
                    line.append(time);
                    return;
                }
                second = epochSecond;
                secondText = whole.substring(0, whole.length() - 1);
            }
            line.append(secondText);
            int nano = time.getNano();
            if (nano != 0) {
                line.append('.');
                if (nano % 1_000_000 == 0) {
                    appendDigits(nano / 1_000_000, 3);
                } else if (nano % 1_000 == 0) {
                    appendDigits(nano / 1_000, 6);
                } else {
                    appendDigits(nano, 9);
                }
            }
            line.append('Z');
        }

        /** As {@code Double.toString(micros / 1000.0)} for the durations a request takes. */
        private void appendMillis(long micros) {
            if (micros < 0 || micros >= 10_000_000_000L) {
                // Negative, or 10^7 ms and more, which Double.toString writes in E notation.
                line.append(micros / 1000.0);
                return;
            }
            line.append(micros / 1000).append('.');
            int fraction = (int) (micros % 1000);
            if (fraction == 0) {
                line.append('0');
            } else if (fraction % 100 == 0) {
                line.append((char) ('0' + fraction / 100));
            } else if (fraction % 10 == 0) {
                appendDigits(fraction / 10, 2);
            } else {
                appendDigits(fraction, 3);
            }
        }

        private void appendDigits(int value, int width) {
            for (int divisor = pow10(width - 1); divisor > 0; divisor /= 10) {
                line.append((char) ('0' + (value / divisor) % 10));
            }
        }

        private static int pow10(int exponent) {
            int result = 1;
            for (int i = 0; i < exponent; i++) {
                result *= 10;
            }
            return result;
        }
    }
}
