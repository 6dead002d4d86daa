package dev.paymesh.invoice;

import java.util.Optional;

/**
 * The pay runs started with {@code Prefer: respond-async}, for {@code GET /invoices/pay-runs/{id}}.
 * Kept where the invoices are, so that whichever replica a poll reaches can answer for a run that
 * another replica carries out.
 */
public interface PayRunLog {

    /** Where a run is; written in lower case on the wire. */
    enum State {
        RUNNING,
        /** Ended; its answer is kept. */
        DONE,
        /** Its replica stopped before it ended; its claims return to the next run when their lease ends. */
        INTERRUPTED
    }

    /**
     * One run.
     *
     * @param paid   invoices paid so far
     * @param failed invoices not paid so far
     * @param status once DONE, the status the synchronous answer would have had
     * @param answer once DONE, that answer's JSON text
     */
    record Run(String id, State state, int paid, int failed, int status, String answer) { }

    void started(String id);

    void progressed(String id, int paid, int failed);

    void finished(String id, int paid, int failed, int status, String answer);

    void interrupted(String id);

    Optional<Run> find(String id);
}
