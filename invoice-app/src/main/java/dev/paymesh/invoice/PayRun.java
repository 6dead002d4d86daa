package dev.paymesh.invoice;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

import io.helidon.http.Headers;

/**
 * Pays every unpaid invoice: claims them atomically, pays them concurrently with a bounded number
 * in flight, and marks each one paid only after payment-provider said so. An invoice whose outcome
 * is unknown after a timeout is looked up before anything else happens to it; if that also fails it
 * goes back to unpaid, which is safe because payment-provider charges an invoice id only once.
 */
final class PayRun {

    /** The outcome of a run: ids paid, and the invoices that were not, with why. */
    record Report(List<String> paid, List<Failure> failed) { }

    /** One invoice left unpaid, and why. */
    record Failure(String invoiceId, String error) { }

    private final InvoiceStore store;
    private final PaymentClient client;
    private final int maxInFlight;
    private final PaymentMetrics metrics;

    PayRun(InvoiceStore store, PaymentClient client, int maxInFlight, PaymentMetrics metrics) {
        this.store = store;
        this.client = client;
        this.maxInFlight = maxInFlight;
        this.metrics = metrics;
    }

    Report payAllUnpaid(Headers incoming) throws InterruptedException {
        List<Invoice> claimed = store.claimUnpaid();
        Semaphore inFlight = new Semaphore(maxInFlight);
        List<Future<Failure>> outcomes = new ArrayList<>(claimed.size());
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Invoice invoice : claimed) {
                inFlight.acquire();
                outcomes.add(executor.submit(() -> {
                    try {
                        return payOne(invoice, incoming);
                    } finally {
                        inFlight.release();
                    }
                }));
            }
        }
        List<String> paid = new ArrayList<>();
        List<Failure> failed = new ArrayList<>();
        for (int i = 0; i < claimed.size(); i++) {
            Failure failure = result(outcomes.get(i), claimed.get(i));
            if (failure == null) {
                paid.add(claimed.get(i).id());
            } else {
                failed.add(failure);
            }
        }
        failed.sort(Comparator.comparing(Failure::invoiceId));
        return new Report(paid, failed);
    }

    private Failure result(Future<Failure> outcome, Invoice invoice) {
        try {
            return outcome.get();
        } catch (Exception e) {
            // payOne never throws on purpose; an invoice must still not stay claimed if it did.
            store.release(invoice.id());
            return new Failure(invoice.id(), "internal error while paying");
        }
    }

    /** Returns null when paid, otherwise why not. Leaves the invoice PAID or UNPAID, never PAYING. */
    private Failure payOne(Invoice invoice, Headers incoming) {
        metrics.attempted();
        PaymentClient.Result result = client.pay(invoice, incoming);
        if (result instanceof PaymentClient.Result.Unknown) {
            result = client.reconcile(invoice, incoming);
        }
        if (result instanceof PaymentClient.Result.Paid) {
            store.markPaid(invoice.id());
            metrics.succeeded();
            return null;
        }
        store.release(invoice.id());
        metrics.failed();
        String reason = switch (result) {
            case PaymentClient.Result.NotPaid notPaid -> notPaid.reason();
            case PaymentClient.Result.Unknown unknown -> unknown.reason() + "; it will be checked on the next run";
            case PaymentClient.Result.Paid ignored -> throw new IllegalStateException("unreachable");
        };
        return new Failure(invoice.id(), reason);
    }
}
