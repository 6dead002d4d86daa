package dev.paymesh.invoice;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** The asynchronous pay runs of this process, the last {@value #KEPT} of them, with the in-memory store. */
final class InMemoryPayRunLog implements PayRunLog {

    static final int KEPT = 1000;

    private final Map<String, Run> runs = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Run> eldest) {
            return size() > KEPT;
        }
    };

    @Override
    public synchronized void started(String id) {
        runs.put(id, new Run(id, State.RUNNING, 0, 0, 0, null));
    }

    @Override
    public synchronized void progressed(String id, int paid, int failed) {
        runs.computeIfPresent(id, (key, run) -> new Run(id, State.RUNNING, paid, failed, 0, null));
    }

    @Override
    public synchronized void finished(String id, int paid, int failed, int status, String answer) {
        runs.computeIfPresent(id, (key, run) -> new Run(id, State.DONE, paid, failed, status, answer));
    }

    @Override
    public synchronized void interrupted(String id) {
        runs.computeIfPresent(id, (key, run) -> new Run(id, State.INTERRUPTED, run.paid(), run.failed(), 0, null));
    }

    @Override
    public synchronized Optional<Run> find(String id) {
        return Optional.ofNullable(runs.get(id));
    }
}
