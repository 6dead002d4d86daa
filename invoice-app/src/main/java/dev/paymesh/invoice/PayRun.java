package dev.paymesh.invoice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
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
 * Pays every unpaid invoice: claims them atomically, pays them concurrently with a bounded number
 * in flight, and marks each one paid only after payment-provider said so.
 *
 * <p>An invoice whose outcome is unknown (a timeout, or a run that died or lost its database after
 * sending the payment) is looked up with GET /payments/{id} before anything else happens to it: a
 * recorded payment marks it paid, a 404 lets it be paid, and no answer leaves it unpaid and still
 * unknown for the next run. A 4xx from payment-provider is permanent: the invoice becomes REFUSED,
 * is reported as such once, and is not sent again until an operator returns it. Sending twice would also be safe, as payment-provider charges an invoice
 * id only once; looking first avoids relying on that.
 */
final class PayRun {

    private static final Logger LOGGER = Logger.getLogger(PayRun.class.getName());

    /** The outcome of a run: ids paid, and the invoices that were not, with why. */
    record Report(List<String> paid, List<Failure> failed) {
        /** True when some invoice failed because its store could not be written: a 503, not a 502. */
        boolean storeUnavailable() {
            return failed.stream().anyMatch(Failure::storeUnavailable);
        }
    }

    /** One invoice left unpaid or unrecorded, and why. */
    record Failure(String invoiceId, String error, boolean storeUnavailable) {
        Failure(String invoiceId, String error) {
            this(invoiceId, error, false);
        }
    }

    /** What became of one claimed invoice: paid (failure null), failed, or taken over by another run. */
    private record Outcome(boolean paid, Failure failure) {
        static final Outcome PAID = new Outcome(true, null);
        static final Outcome TAKEN_OVER = new Outcome(false, null);
    }

    /**
     * The settings under {@code payment}; the defaults are in application.yaml.
     *
     * @param maxInFlight payments in flight at once during one run
     * @param claimLease  how long a run's claim on an invoice lasts before another run may take it over
     */
    record Settings(int maxInFlight, Duration claimLease) {

        Settings {
            if (maxInFlight < 1) {
                throw new IllegalArgumentException("payment.max-in-flight must be at least 1, got " + maxInFlight);
            }
            if (claimLease.toSeconds() < 1) {
                throw new IllegalArgumentException("payment.claim-lease-seconds must be at least 1, got "
                        + claimLease.toSeconds());
            }
        }

        /**
         * Reads the settings; the lease must outlast one payment and its lookup, or a slow but living
         * run would have its invoices taken, so a shorter one is warned about.
         */
        static Settings from(Config payment, HttpPaymentClient.Settings provider) {
            Settings settings = new Settings(payment.get("max-in-flight").asInt().get(),
                    Duration.ofSeconds(payment.get("claim-lease-seconds").asLong().get()));
            Duration oneInvoice = provider.connectTimeout().plus(provider.readTimeout()).multipliedBy(2);
            if (settings.claimLease().compareTo(oneInvoice) <= 0) {
                LOGGER.warning(() -> "payment.claim-lease-seconds=" + settings.claimLease().toSeconds()
                        + " is not above one payment and its lookup (" + oneInvoice.toMillis()
                        + " ms): a slow pay run may have invoices taken over");
            }
            return settings;
        }

        /**
         * The payments one replica keeps in flight when its invoices are in a database pool of this
         * size. Each payment writes twice, borrowing a connection each time, so more payments than
         * connections only queue for the pool, and the reads queue behind them until both time out
         * into 503s and leave invoices claimed. A quarter of the pool (at least one connection) is
         * kept for everything else; the rest bounds the payments.
         */
        int maxInFlightWithin(int poolSize) {
            int keptForOthers = Math.max(1, poolSize / 4);
            return Math.max(1, Math.min(maxInFlight, poolSize - keptForOthers));
        }
    }

    private static final String STORE_DOWN = "the invoice database is unavailable; the invoice stays claimed"
            + " and is checked with payment-provider once the claim lease runs out";

    /** How a permanent refusal starts its error in {@code failed}, set apart from the transient ones. */
    static final String REFUSED = "refused by payment-provider, not resent by later runs (see README): ";

    private final InvoiceStore store;
    private final PaymentClient client;
    /** Payments in flight in this replica, shared by its runs, so two runs at once stay within the pool. */
    private final Semaphore inFlight;
    private final PaymentMetrics metrics;
    private final String instance;

    PayRun(InvoiceStore store, PaymentClient client, int maxInFlight, PaymentMetrics metrics, String instance) {
        this.store = store;
        this.client = client;
        this.inFlight = new Semaphore(maxInFlight);
        this.metrics = metrics;
        this.instance = instance;
    }

    /** Claims and pays; a store that cannot even be asked for the claim fails the whole run. */
    Report payAllUnpaid(Headers incoming) throws InterruptedException {
        // Unique per run, so two runs in one replica never act on each other's claims.
        String owner = instance + "/" + UUID.randomUUID();
        List<InvoiceStore.Claimed> claimed = store.claimUnpaid(owner);
        List<Future<Outcome>> outcomes = new ArrayList<>(claimed.size());
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            for (InvoiceStore.Claimed claim : claimed) {
                inFlight.acquire();
                try {
                    outcomes.add(executor.submit(() -> {
                        try {
                            return payOne(claim, owner, incoming);
                        } finally {
                            inFlight.release();
                        }
                    }));
                } catch (RuntimeException e) {
                    inFlight.release();
                    throw e;
                }
            }
        } finally {
            // An interrupted run (a shutdown, an interrupted wait for a slot) hands back at once
            // what it claimed but never sent, instead of holding it until the lease runs out.
            releaseUnsent(claimed.subList(outcomes.size(), claimed.size()), owner);
        }
        List<String> paid = new ArrayList<>();
        List<Failure> failed = new ArrayList<>();
        for (int i = 0; i < claimed.size(); i++) {
            Outcome outcome = result(outcomes.get(i), claimed.get(i).invoice(), owner);
            if (outcome.paid()) {
                paid.add(claimed.get(i).invoice().id());
            } else if (outcome.failure() != null) {
                failed.add(outcome.failure());
            }
        }
        failed.sort(Comparator.comparing(Failure::invoiceId));
        return new Report(paid, failed);
    }

    private void releaseUnsent(List<InvoiceStore.Claimed> unsent, String owner) {
        for (InvoiceStore.Claimed claim : unsent) {
            try {
                // An invoice whose outcome was unknown stays so: the next run still looks it up first.
                store.release(claim.invoice().id(), owner, claim.outcomeUnknown());
            } catch (RuntimeException e) {
                LOGGER.log(Level.FINE, "could not release invoice " + claim.invoice().id()
                        + "; its claim lease returns it", e);
            }
        }
        if (!unsent.isEmpty()) {
            LOGGER.info(() -> "pay run " + owner + " stopped early; " + unsent.size()
                    + " claimed invoices released unsent");
        }
    }

    private Outcome result(Future<Outcome> outcome, Invoice invoice, String owner) throws InterruptedException {
        try {
            return outcome.get();
        } catch (ExecutionException e) {
            // payOne never throws on purpose. How far it got is not known, so the invoice goes back
            // as unknown, to be looked up first; if even that fails, the lease returns it.
            LOGGER.log(Level.WARNING, "paying invoice " + invoice.id() + " failed", e.getCause());
            try {
                store.release(invoice.id(), owner, true);
            } catch (RuntimeException releaseFailed) {
                LOGGER.log(Level.FINE, "could not release invoice " + invoice.id(), releaseFailed);
            }
            return new Outcome(false, new Failure(invoice.id(), "internal error while paying"));
        }
    }

    /** Leaves the invoice PAID or UNPAID; PAYING only while the store cannot be written. */
    private Outcome payOne(InvoiceStore.Claimed claim, String owner, Headers incoming) {
        Invoice invoice = claim.invoice();
        try {
            if (!store.startPayment(invoice.id(), owner)) {
                // Our claim outlived its lease and another run took the invoice over: it is theirs.
                LOGGER.info(() -> "invoice " + invoice.id() + " was taken over by another pay run");
                return Outcome.TAKEN_OVER;
            }
        } catch (StoreUnavailableException e) {
            // Nothing was sent; the invoice stays claimed until the lease runs out.
            return new Outcome(false, new Failure(invoice.id(), STORE_DOWN, true));
        }
        PaymentClient.Result result = null;
        if (claim.outcomeUnknown()) {
            result = client.reconcile(invoice, incoming);
            if (result instanceof PaymentClient.Result.NotPaid) {
                result = null; // payment-provider has nothing for it: pay it now
            }
        }
        if (result == null) {
            metrics.attempted();
            result = client.pay(invoice, incoming);
            if (result instanceof PaymentClient.Result.Unknown unknown) {
                // A timeout, a 5xx or a connection lost after sending: ask before anything else.
                result = switch (client.reconcile(invoice, incoming)) {
                    case PaymentClient.Result.NotPaid ignored -> new PaymentClient.Result.NotPaid(
                            unknown.reason() + "; payment-provider has no payment for it");
                    case PaymentClient.Result lookedUp -> lookedUp;
                };
            }
        }
        try {
            return record(invoice, owner, result);
        } catch (StoreUnavailableException e) {
            // startPayment marked the outcome unknown in the store, so whoever claims the invoice
            // after the lease asks payment-provider first and never pays it twice.
            String what = result instanceof PaymentClient.Result.Paid
                    ? "paid at payment-provider, but " : "not paid, and ";
            return new Outcome(false, new Failure(invoice.id(), what + STORE_DOWN, true));
        }
    }

    private Outcome record(Invoice invoice, String owner, PaymentClient.Result result) {
        if (result instanceof PaymentClient.Result.Paid) {
            if (!store.markPaid(invoice.id(), owner)) {
                // The run that took it over looks it up first and finds it paid.
                LOGGER.warning(() -> "invoice " + invoice.id() + " was paid but taken over by another pay run"
                        + " before it could be marked; that run records it");
            }
            metrics.succeeded();
            return Outcome.PAID;
        }
        if (result instanceof PaymentClient.Result.Refused refused) {
            store.refuse(invoice.id(), owner);
            metrics.failed();
            LOGGER.warning(() -> "invoice " + invoice.id() + " was refused by payment-provider and is not"
                    + " resent until an operator returns it to UNPAID: " + refused.reason());
            return new Outcome(false, new Failure(invoice.id(), REFUSED + refused.reason()));
        }
        boolean unknown = result instanceof PaymentClient.Result.Unknown;
        store.release(invoice.id(), owner, unknown);
        metrics.failed();
        String reason = switch (result) {
            case PaymentClient.Result.NotPaid notPaid -> notPaid.reason();
            case PaymentClient.Result.Unknown stillUnknown ->
                    stillUnknown.reason() + "; it will be checked on the next run";
            case PaymentClient.Result.Paid ignored -> throw new IllegalStateException("unreachable");
            case PaymentClient.Result.Refused ignored -> throw new IllegalStateException("unreachable");
        };
        return new Outcome(false, new Failure(invoice.id(), reason));
    }
}
