package dev.paymesh.invoice;

import io.helidon.metrics.api.Counter;
import io.helidon.metrics.api.MeterRegistry;

/** Payments invoice-app attempted, and how they ended. */
final class PaymentMetrics {

    private final Counter attempted;
    private final Counter succeeded;
    private final Counter failed;

    PaymentMetrics(MeterRegistry registry) {
        attempted = registry.getOrCreate(Counter.builder("payments_attempted")
                .description("Payments sent to payment-provider"));
        succeeded = registry.getOrCreate(Counter.builder("payments_succeeded")
                .description("Invoices payment-provider confirmed as paid, after a payment or by looking one up"));
        failed = registry.getOrCreate(Counter.builder("payments_failed")
                .description("Invoices a pay run left unpaid: refused, unreachable, or with an outcome still unknown"));
    }

    void attempted() {
        attempted.increment();
    }

    void succeeded() {
        succeeded.increment();
    }

    void failed() {
        failed.increment();
    }
}
