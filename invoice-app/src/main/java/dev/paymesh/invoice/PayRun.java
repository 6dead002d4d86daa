package dev.paymesh.invoice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.helidon.config.Config;
import io.helidon.http.Headers;

import dev.paymesh.support.StoreUnavailableException;

/**
 * Pays every unpaid invoice: claims them a batch at a time, pays each batch with requests of as many
 * invoices as payment-provider takes at once ({@link PaymentClient#batchLimit()}), a bounded number
 * of requests in flight, and records the whole batch's outcomes in one write, marking an invoice
 * paid only after payment-provider said so.
 *
 * <p>An invoice whose outcome is unknown (a timeout, or a run that died or lost its database after
 * its claim) is looked up with GET /payments/{id} before anything else happens to it: a recorded
 * payment marks it paid, a 404 lets it be paid, and no answer leaves it unpaid and still unknown for
 * the next run. A 4xx from payment-provider is permanent: the invoice becomes REFUSED, is reported as
 * such once, and is not sent again until an operator returns it. Sending twice would also be safe, as
 * payment-provider charges an invoice id only once; looking first avoids relying on that.
 *
 * <p>The run writes to its store only between payments, one statement per batch (claim, settle, and a
 * renewal when a batch outlasts most of its lease), so payments in flight hold no database connection.
 * Those statements are off the sending path: the next batch is claimed while one is sent, and a sent
 * batch is recorded by a task of its own once its payments have ended. So at most three batches are
 * claimed at once: one being recorded, one being sent, one claimed ahead.
 */
final class PayRun {

    private static final Logger LOGGER = Logger.getLogger(PayRun.class.getName());

    /** Why a run stopped before it had been through every claimable invoice. */
    enum Unfinished {
        /** A synchronous run reached its time budget; what it did not reach stays unpaid for the next run. */
        TIME_BUDGET,
        /** The invoice database went away during the run. */
        STORE_DOWN
    }

    /** The outcome of a run: ids paid, the invoices that were not, with why, and whether it stopped early. */
    record Report(List<String> paid, List<Failure> failed, Unfinished unfinished) {

        /** True when the store could not be written or read: a 503, not a 502. */
        boolean storeUnavailable() {
            return unfinished == Unfinished.STORE_DOWN || failed.stream().anyMatch(Failure::storeUnavailable);
        }
    }

    /** One invoice left unpaid or unrecorded, and why. */
    record Failure(String invoiceId, String error, boolean storeUnavailable) {
        Failure(String invoiceId, String error) {
            this(invoiceId, error, false);
        }
    }

    /** Told how far a run has got after each batch: invoices paid and failed so far. */
    @FunctionalInterface
    interface Progress {
        Progress NONE = (paid, failed) -> { };

        void settled(int paid, int failed);
    }

    /**
     * The settings under {@code payment}; the defaults are in application.yaml.
     *
     * @param maxInFlight requests to payment-provider in flight at once in this replica, all its runs
     *                    together; each pays one invoice or a batch
     * @param claimLease  how long a run's claim on an invoice lasts before another run may take it over
     * @param claimBatch  invoices claimed, and settled, by one statement
     * @param onePayment  the longest one payment and its lookup take (connect and read timeouts, twice):
     *                    a payment is not sent on a claim with less than this left of its lease
     * @param syncBudget  how long a synchronous run keeps claiming: it must answer before the
     *                    gateway's route timeout, or the caller would see a 504 while it goes on
     */
    record Settings(int maxInFlight, Duration claimLease, int claimBatch, Duration onePayment, Duration syncBudget) {

        Settings {
            if (maxInFlight < 1) {
                throw new IllegalArgumentException("payment.max-in-flight must be at least 1, got " + maxInFlight);
            }
            if (claimLease.toSeconds() < 1) {
                throw new IllegalArgumentException("payment.claim-lease-seconds must be at least 1, got "
                        + claimLease.toSeconds());
            }
            if (claimBatch < 1) {
                throw new IllegalArgumentException("payment.claim-batch must be at least 1, got " + claimBatch);
            }
            if (syncBudget.toSeconds() < 1) {
                throw new IllegalArgumentException("payment.sync-run-budget-seconds must be at least 1, got "
                        + syncBudget.toSeconds());
            }
        }

        /**
         * Reads the settings; the lease must outlast one payment and its lookup, or every payment
         * would first renew its claim, so a shorter one is warned about.
         */
        static Settings from(Config payment, HttpPaymentClient.Settings provider) {
            Settings settings = new Settings(payment.get("max-in-flight").asInt().get(),
                    Duration.ofSeconds(payment.get("claim-lease-seconds").asLong().get()),
                    payment.get("claim-batch").asInt().get(),
                    provider.connectTimeout().plus(provider.readTimeout()).multipliedBy(2),
                    Duration.ofSeconds(payment.get("sync-run-budget-seconds").asLong().get()));
            if (settings.claimLease().compareTo(settings.onePayment()) <= 0) {
                LOGGER.warning(() -> "payment.claim-lease-seconds=" + settings.claimLease().toSeconds()
                        + " is not above one payment and its lookup (" + settings.onePayment().toMillis()
                        + " ms): every payment renews its claim first");
            }
            return settings;
        }
    }

    private static final String STORE_DOWN = "the invoice database is unavailable; the invoice stays claimed"
            + " and is checked with payment-provider once the claim lease runs out";

    /** How a permanent refusal starts its error in {@code failed}, set apart from the transient ones. */
    static final String REFUSED = "refused by payment-provider, not resent by later runs (see README): ";

    private final InvoiceStore store;
    private final PaymentClient client;
    private final Settings settings;
    /** Requests to payment-provider in flight in this replica, shared by its runs. */
    private final Semaphore inFlight;
    private final PaymentMetrics metrics;
    private final String instance;

    PayRun(InvoiceStore store, PaymentClient client, Settings settings, PaymentMetrics metrics, String instance) {
        this.store = store;
        this.client = client;
        this.settings = settings;
        this.inFlight = new Semaphore(settings.maxInFlight());
        this.metrics = metrics;
        this.instance = instance;
    }

    Settings settings() {
        return settings;
    }

    /** A synchronous run: it stops claiming at the time budget. */
    Report payAllUnpaid(Headers incoming) throws InterruptedException {
        return payAllUnpaid(UUID.randomUUID().toString(), incoming, settings.syncBudget(), Progress.NONE);
    }

    /**
     * Claims and pays batch after batch until none is left or {@code budget} (null: none) has passed.
     * A store that cannot even be asked for the first claim fails the whole run. {@code runId} must
     * be unique: with this replica's name it names the run's claims, so two runs never act on each
     * other's.
     */
    Report payAllUnpaid(String runId, Headers incoming, Duration budget, Progress progress) throws InterruptedException {
        String owner = instance + "/" + runId;
        long started = System.nanoTime();
        Tally tally = new Tally();
        boolean outOfTime = false;
        Future<Claim> next = null;
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            try {
                // The first claim is made here: a store that cannot answer it is the run's 503.
                Claim claim = claim(owner, null);
                while (!claim.batch().isEmpty()) {
                    String after = claim.batch().getLast().invoice().id();
                    // The next batch is claimed while this one is sent, so that no claim ever waits
                    // for the database between two batches. Nothing claimable was left after a
                    // short batch when it was claimed.
                    next = null;
                    if (claim.batch().size() == settings.claimBatch() && !tally.storeDown) {
                        if (budget != null && System.nanoTime() - started >= budget.toNanos()) {
                            outOfTime = true;
                        } else {
                            // At most three batches claimed: this one, the one still being
                            // recorded, and the one claimed ahead now; the batch before them
                            // must be recorded first.
                            tally.awaitRecordedButTheLast();
                            next = executor.submit(() -> claim(owner, after));
                        }
                    }
                    // By identity: a claim's record hash would hash its invoice, amount included, for nothing.
                    Map<InvoiceStore.Claimed, Future<PaymentClient.Result>> sending = new IdentityHashMap<>();
                    try {
                        send(claim.batch(), claim.at(), owner, incoming, executor, sending, tally, progress);
                    } finally {
                        tally.recordLater(sending, executor, () -> settle(sending, owner, tally, progress));
                    }
                    if (next == null) {
                        break;
                    }
                    try {
                        // Interrupted here, the run still holds next: the finally below hands it back.
                        claim = next.get();
                        next = null;
                    } catch (ExecutionException e) {
                        next = null;
                        if (e.getCause() instanceof StoreUnavailableException) {
                            tally.storeDown = true;
                            break;
                        }
                        throw new IllegalStateException("claiming a batch failed", e.getCause());
                    }
                    if (tally.storeDown) {
                        // A batch could not be recorded while this one was claimed: it is not sent.
                        releaseUnsent(claim.batch(), owner);
                        break;
                    }
                    if (budget != null && System.nanoTime() - started >= budget.toNanos()) {
                        // Claimed ahead, but the budget ran out while the batch before it was sent.
                        outOfTime = true;
                        releaseUnsent(claim.batch(), owner);
                        break;
                    }
                }
            } finally {
                if (next != null) {
                    // The run stopped while its next batch was being claimed: that batch is handed
                    // back unsent, rather than held until its lease runs out.
                    releaseUnsent(claimedAnyway(next), owner);
                }
                tally.awaitRecorded();
            }
        }
        if (outOfTime) {
            LOGGER.info(() -> "pay run " + owner + " reached its time budget of " + budget.toSeconds()
                    + " s; the invoices it did not claim are left to the next run");
        }
        tally.failed.sort(Comparator.comparing(Failure::invoiceId));
        Unfinished unfinished = tally.storeDown ? Unfinished.STORE_DOWN : outOfTime ? Unfinished.TIME_BUDGET : null;
        return new Report(tally.paid, tally.failed, unfinished);
    }

    /** A batch of claims, and when the statement that made them started (their lease runs from there). */
    private record Claim(List<InvoiceStore.Claimed> batch, long at) {
    }

    private Claim claim(String owner, String after) {
        long at = System.nanoTime();
        return new Claim(store.claimUnpaid(owner, after, settings.claimBatch()), at);
    }

    /** What a claim made in the background holds, once it is done; nothing if it failed. */
    private static List<InvoiceStore.Claimed> claimedAnyway(Future<Claim> claim) {
        try {
            return awaitThroughInterrupts(claim).batch();
        } catch (ExecutionException e) {
            return List.of();
        }
    }

    /**
     * The future's value once it is done, waiting on through interrupts, whose flag is set again
     * before returning: what is already under way (a payment, a claim, a recording) must end and be
     * accounted for before a run gives up.
     */
    private static <T> T awaitThroughInterrupts(Future<T> future) throws ExecutionException {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return future.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * What a run found so far. Batches are recorded one after another, each by a task of its own, so
     * the lists are written under this object's lock.
     */
    private static final class Tally {
        final List<String> paid = new ArrayList<>();
        final List<Failure> failed = new ArrayList<>();
        /** The store could not be written: the run claims nothing more. */
        volatile boolean storeDown;
        /** The recording of the last batch sent; each waits for the one before it. */
        private Future<?> recording;
        /** The recording of the batch sent before that one. */
        private Future<?> recordingBefore;

        /**
         * Records a sent batch once its payments have ended and the batches before it are recorded,
         * without holding up the sending of the next batch.
         */
        void recordLater(Map<InvoiceStore.Claimed, Future<PaymentClient.Result>> sent, ExecutorService executor,
                         Runnable record) {
            if (sent.isEmpty()) {
                return;
            }
            Future<?> before = recording;
            recordingBefore = before;
            recording = executor.submit(() -> {
                awaitQuietly(before);
                record.run();
            });
        }

        /** Waits until every batch sent is recorded but the last, even when interrupted (the flag is kept). */
        void awaitRecordedButTheLast() {
            awaitQuietly(recordingBefore);
        }

        /** Waits until every batch sent is recorded, even when interrupted (the flag is kept). */
        void awaitRecorded() {
            awaitQuietly(recording);
        }

        private static void awaitQuietly(Future<?> task) {
            if (task == null) {
                return;
            }
            try {
                awaitThroughInterrupts(task);
            } catch (ExecutionException e) {
                LOGGER.log(Level.WARNING, "recording a batch of a pay run failed", e.getCause());
            }
        }

        synchronized void paid(String id) {
            paid.add(id);
        }

        synchronized void failed(Failure failure) {
            failed.add(failure);
        }

        synchronized void tell(Progress progress) {
            progress.settled(paid.size(), failed.size());
        }
    }

    /**
     * Sends the batch's payments, at most {@code maxInFlight} requests at once in the replica, into
     * {@code sent}; what it could not send it hands back (or, with the store away, reports).
     */
    private void send(List<InvoiceStore.Claimed> claimed, long claimedAt, String owner, Headers incoming,
                      ExecutorService executor, Map<InvoiceStore.Claimed, Future<PaymentClient.Result>> sent,
                      Tally tally, Progress progress) throws InterruptedException {
        List<InvoiceStore.Claimed> batch = new ArrayList<>(claimed);
        long renewedAt = claimedAt;
        int next = 0;
        try {
            while (next < batch.size()) {
                inFlight.acquire();
                boolean submitted = false;
                try {
                    if (System.nanoTime() - renewedAt + settings.onePayment().toNanos() >= settings.claimLease().toNanos()) {
                        // Too little of the lease is left for one more payment and its lookup: renew
                        // what is still to be sent, or another run could take it over mid-payment.
                        long renewing = System.nanoTime();
                        List<InvoiceStore.Claimed> rest = batch.subList(next, batch.size());
                        Set<String> kept = store.renew(owner, rest.stream().map(claim -> claim.invoice().id()).toList());
                        renewedAt = renewing;
                        int before = rest.size();
                        rest.removeIf(claim -> !kept.contains(claim.invoice().id()));
                        if (rest.size() < before) {
                            LOGGER.info(() -> (before - kept.size()) + " invoices of pay run " + owner
                                    + " were taken over by another run before they were sent");
                        }
                        tally.tell(progress); // alive, if slow
                        if (next == batch.size()) {
                            break;
                        }
                    }
                    List<InvoiceStore.Claimed> together = together(batch, next);
                    if (together.size() == 1) {
                        InvoiceStore.Claimed claim = together.getFirst();
                        sent.put(claim, executor.submit(() -> {
                            try {
                                return payOne(claim, incoming);
                            } finally {
                                inFlight.release();
                            }
                        }));
                    } else {
                        List<CompletableFuture<PaymentClient.Result>> results = new ArrayList<>(together.size());
                        together.forEach(claim -> results.add(new CompletableFuture<>()));
                        executor.submit(() -> {
                            try {
                                payTogether(together, results, incoming);
                            } finally {
                                inFlight.release();
                            }
                        });
                        for (int i = 0; i < together.size(); i++) {
                            sent.put(together.get(i), results.get(i));
                        }
                    }
                    submitted = true;
                    next += together.size();
                } finally {
                    if (!submitted) {
                        inFlight.release();
                    }
                }
            }
        } catch (StoreUnavailableException e) {
            // The renewal failed: nothing more is sent, and what was not sent stays claimed.
            tally.storeDown = true;
            for (InvoiceStore.Claimed claim : batch.subList(next, batch.size())) {
                tally.failed(new Failure(claim.invoice().id(), STORE_DOWN, true));
            }
            next = batch.size();
        } finally {
            // An interrupted run (a shutdown) hands back at once what it claimed but never sent,
            // instead of holding it until the lease runs out; what it did send is recorded after.
            releaseUnsent(batch.subList(next, batch.size()), owner);
        }
    }

    private void releaseUnsent(List<InvoiceStore.Claimed> unsent, String owner) {
        if (unsent.isEmpty()) {
            return;
        }
        Map<String, InvoiceStore.Settlement> back = new LinkedHashMap<>();
        // An invoice whose outcome was unknown stays so: the next run still looks it up first.
        unsent.forEach(claim -> back.put(claim.invoice().id(),
                claim.outcomeUnknown() ? InvoiceStore.Settlement.UNKNOWN : InvoiceStore.Settlement.NOT_PAID));
        try {
            store.settle(owner, back);
        } catch (RuntimeException e) {
            LOGGER.log(Level.FINE, "could not release " + back.size() + " unsent invoices; their claim lease returns them", e);
        }
        LOGGER.info(() -> "pay run " + owner + " stopped early; " + unsent.size() + " claimed invoices released unsent");
    }

    /** Waits for the payments sent and records them in one write, then tells the progress. */
    private void settle(Map<InvoiceStore.Claimed, Future<PaymentClient.Result>> sent, String owner, Tally tally,
                        Progress progress) {
        if (sent.isEmpty()) {
            return;
        }
        Map<String, PaymentClient.Result> results = new LinkedHashMap<>();
        Map<String, InvoiceStore.Settlement> settlements = new LinkedHashMap<>();
        sent.forEach((claim, future) -> {
            PaymentClient.Result result = resultOf(future, claim.invoice());
            results.put(claim.invoice().id(), result);
            settlements.put(claim.invoice().id(), switch (result) {
                case PaymentClient.Result.Paid ignored -> InvoiceStore.Settlement.PAID;
                case PaymentClient.Result.NotPaid ignored -> InvoiceStore.Settlement.NOT_PAID;
                case PaymentClient.Result.Unknown ignored -> InvoiceStore.Settlement.UNKNOWN;
                case PaymentClient.Result.Refused ignored -> InvoiceStore.Settlement.REFUSED;
            });
        });
        Set<String> settled;
        try {
            settled = store.settle(owner, settlements);
        } catch (StoreUnavailableException e) {
            // The claims made the outcomes unknown in the store, so whoever claims these invoices
            // after the lease asks payment-provider first and never pays them twice.
            results.forEach((id, result) -> tally.failed(new Failure(id, (result instanceof PaymentClient.Result.Paid
                    ? "paid at payment-provider, but " : "not paid, and ") + STORE_DOWN, true)));
            tally.storeDown = true;
            return;
        }
        results.forEach((id, result) -> record(id, result, settled.contains(id), tally));
        tally.tell(progress);
    }

    private static PaymentClient.Result resultOf(Future<PaymentClient.Result> future, Invoice invoice) {
        try {
            // The payment is on its way; its outcome must be recorded before the run gives up.
            return awaitThroughInterrupts(future);
        } catch (ExecutionException e) {
            // payOne never throws on purpose. How far it got is not known, so the invoice goes back
            // as unknown, to be looked up first.
            LOGGER.log(Level.WARNING, "paying invoice " + invoice.id() + " failed", e.getCause());
            return new PaymentClient.Result.Unknown("internal error while paying");
        }
    }

    private void record(String id, PaymentClient.Result result, boolean stillOurs, Tally tally) {
        if (!stillOurs) {
            // The run that took it over looks it up first and records it.
            LOGGER.warning(() -> "invoice " + id + " was " + (result instanceof PaymentClient.Result.Paid ? "paid" : "sent")
                    + " but taken over by another pay run before it could be recorded; that run records it");
        }
        switch (result) {
            case PaymentClient.Result.Paid ignored -> {
                metrics.succeeded();
                tally.paid(id);
            }
            case PaymentClient.Result.Refused refused -> {
                metrics.failed();
                LOGGER.warning(() -> "invoice " + id + " was refused by payment-provider and is not"
                        + " resent until an operator returns it to UNPAID: " + refused.reason());
                tally.failed(new Failure(id, REFUSED + refused.reason()));
            }
            case PaymentClient.Result.NotPaid notPaid -> {
                metrics.failed();
                tally.failed(new Failure(id, notPaid.reason()));
            }
            case PaymentClient.Result.Unknown unknown -> {
                metrics.failed();
                tally.failed(new Failure(id, unknown.reason() + "; it will be checked on the next run"));
            }
        }
    }

    /**
     * The claims from {@code from} on that one request pays: one whose earlier outcome is unknown
     * alone (it is looked up first), otherwise as many as the client takes at once, up to the first
     * such claim.
     */
    private List<InvoiceStore.Claimed> together(List<InvoiceStore.Claimed> batch, int from) {
        int end = from + 1;
        if (!batch.get(from).outcomeUnknown()) {
            int limit = Math.min(batch.size(), from + client.batchLimit());
            while (end < limit && !batch.get(end).outcomeUnknown()) {
                end++;
            }
        }
        return List.copyOf(batch.subList(from, end));
    }

    /**
     * Pays claims with one request, completing each one's result; an outcome left unknown is looked
     * up, as {@link #payOne} does. Whatever goes wrong completes every result, so the batch is
     * recorded and never waited for forever.
     */
    private void payTogether(List<InvoiceStore.Claimed> claims, List<CompletableFuture<PaymentClient.Result>> results,
                             Headers incoming) {
        try {
            List<Invoice> invoices = claims.stream().map(InvoiceStore.Claimed::invoice).toList();
            invoices.forEach(invoice -> metrics.attempted());
            List<PaymentClient.Result> paid = client.payAll(invoices, incoming);
            for (int i = 0; i < invoices.size(); i++) {
                results.get(i).complete(paid.get(i) instanceof PaymentClient.Result.Unknown unknown
                        ? lookedUp(invoices.get(i), unknown, incoming) : paid.get(i));
            }
        } catch (RuntimeException | Error e) {
            results.forEach(result -> result.completeExceptionally(e));
            throw e;
        }
    }

    /** Pays one claimed invoice, looking it up first when an earlier attempt's outcome is unknown. */
    private PaymentClient.Result payOne(InvoiceStore.Claimed claim, Headers incoming) {
        Invoice invoice = claim.invoice();
        if (claim.outcomeUnknown()) {
            PaymentClient.Result lookedUp = client.reconcile(invoice, incoming);
            if (!(lookedUp instanceof PaymentClient.Result.NotPaid)) {
                return lookedUp;
            }
            // payment-provider has nothing for it: pay it now
        }
        metrics.attempted();
        PaymentClient.Result result = client.pay(invoice, incoming);
        if (result instanceof PaymentClient.Result.Unknown unknown) {
            return lookedUp(invoice, unknown, incoming);
        }
        return result;
    }

    /** A timeout, a 5xx or a connection lost after sending: payment-provider is asked before anything else. */
    private PaymentClient.Result lookedUp(Invoice invoice, PaymentClient.Result.Unknown unknown, Headers incoming) {
        return switch (client.reconcile(invoice, incoming)) {
            case PaymentClient.Result.NotPaid ignored -> new PaymentClient.Result.NotPaid(
                    unknown.reason() + "; payment-provider has no payment for it");
            case PaymentClient.Result lookedUp -> lookedUp;
        };
    }
}
