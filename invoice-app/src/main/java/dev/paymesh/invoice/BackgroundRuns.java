package dev.paymesh.invoice;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * The pay runs this replica carries out in the background ({@code Prefer: respond-async}), so that
 * stopping the server stops them properly: each is interrupted, hands back what it claimed and never
 * sent, records what it did send, and notes itself as interrupted, all before the database closes.
 */
final class BackgroundRuns {

    private static final Logger LOGGER = Logger.getLogger(BackgroundRuns.class.getName());

    private final Set<Thread> running = ConcurrentHashMap.newKeySet();
    private boolean stopping;

    /** Starts {@code run} in a virtual thread of its own; false, and nothing started, once stopping. */
    synchronized boolean start(String name, Runnable run) {
        if (stopping) {
            return false;
        }
        Thread thread = Thread.ofVirtual().name(name).unstarted(() -> {
            try {
                run.run();
            } finally {
                running.remove(Thread.currentThread());
            }
        });
        running.add(thread);
        thread.start();
        return true;
    }

    /**
     * Interrupts every run and waits until they have ended or {@code patience} has passed (a run
     * waits for the payments it has in flight, each bounded by the client's timeouts).
     *
     * @return how many runs were still going when the patience ran out
     */
    int stop(Duration patience) {
        List<Thread> threads;
        synchronized (this) {
            stopping = true;
            threads = List.copyOf(running);
        }
        threads.forEach(Thread::interrupt);
        long deadline = System.nanoTime() + patience.toNanos();
        boolean interrupted = false;
        int left = 0;
        for (Thread thread : threads) {
            try {
                long wait = deadline - System.nanoTime();
                if (wait <= 0 || !thread.join(Duration.ofNanos(wait))) {
                    left++;
                }
            } catch (InterruptedException e) {
                interrupted = true;
                left++;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (left > 0) {
            int still = left;
            LOGGER.warning(() -> still + " background pay runs had not ended " + patience.toSeconds()
                    + " s after the stop; their claims return to the next run when their lease ends");
        }
        return left;
    }
}
