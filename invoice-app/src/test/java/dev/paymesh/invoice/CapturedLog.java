package dev.paymesh.invoice;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

import dev.paymesh.support.AccessLog;

/**
 * Every record the service logs while it is open, as the root logger's handlers receive them, and
 * the access log's lines, which do not reach the root.
 */
final class CapturedLog extends Handler implements AutoCloseable {

    private static final Logger ROOT = Logger.getLogger("");
    private static final Logger ACCESS = Logger.getLogger("dev.paymesh.access");

    private final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final SimpleFormatter formatter = new SimpleFormatter();

    private CapturedLog() {
        setLevel(Level.ALL);
    }

    static CapturedLog open() {
        CapturedLog log = new CapturedLog();
        ROOT.addHandler(log);
        ACCESS.addHandler(log);
        return log;
    }

    @Override
    public void publish(LogRecord record) {
        records.add(record);
    }

    /** The records of the logger at this level or above, in order. */
    List<LogRecord> records(String logger, Level atLeast) {
        if (ACCESS.getName().startsWith(logger) || logger.startsWith(ACCESS.getName())) {
            // The access log is written by a thread of its own: wait for the lines of the requests made.
            AccessLog.awaitWritten();
        }
        return records.stream()
                .filter(record -> record.getLoggerName() != null && record.getLoggerName().startsWith(logger))
                .filter(record -> record.getLevel().intValue() >= atLeast.intValue())
                .toList();
    }

    /** Each record as a reader of the log sees it: the message, then every exception in its chain. */
    List<String> texts() {
        List<String> texts = new ArrayList<>();
        for (LogRecord record : records) {
            StringBuilder text = new StringBuilder(formatter.formatMessage(record));
            for (Throwable cause = record.getThrown(); cause != null; cause = cause.getCause()) {
                text.append(" | ").append(cause);
                if (cause.getCause() == cause) {
                    break;
                }
            }
            texts.add(text.toString());
        }
        return texts;
    }

    String message(LogRecord record) {
        return formatter.formatMessage(record);
    }

    @Override
    public void flush() {
        // records are kept in memory
    }

    @Override
    public void close() {
        ROOT.removeHandler(this);
        ACCESS.removeHandler(this);
    }
}
