package dev.paymesh.support;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;

/** A log handler keeping each record it is given as one line of text, at every level. */
final class LineCapture extends Handler {

    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Function<LogRecord, String> line;

    /** Keeps each record's message. */
    LineCapture() {
        this(LogRecord::getMessage);
    }

    /** Keeps each record as {@code line} renders it. */
    LineCapture(Function<LogRecord, String> line) {
        this.line = line;
        setLevel(Level.ALL);
    }

    /** The lines so far, in the order they came; a live view. */
    List<String> lines() {
        return lines;
    }

    @Override
    public void publish(LogRecord record) {
        lines.add(line.apply(record));
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
    }
}
