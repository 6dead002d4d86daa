package dev.paymesh.invoice;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

import io.helidon.http.Headers;

/** Pays every invoice, but holds the first payment until the test lets it go; looks nothing up. */
final class HeldPaymentClient implements PaymentClient {

    final CountDownLatch firstSent = new CountDownLatch(1);
    final CountDownLatch letGo = new CountDownLatch(1);
    /** The invoices sent, in order. */
    final List<String> sent = new CopyOnWriteArrayList<>();

    @Override
    public Result pay(Invoice invoice, Headers incoming) {
        boolean first;
        synchronized (sent) {
            first = sent.isEmpty();
            sent.add(invoice.id());
        }
        if (first) {
            firstSent.countDown();
            try {
                letGo.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return new Result.Paid();
    }

    @Override
    public Result reconcile(Invoice invoice, Headers incoming) {
        return new Result.NotPaid("no payment");
    }
}
