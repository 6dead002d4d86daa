package dev.paymesh.payment;

import java.util.EnumMap;
import java.util.Map;

import io.helidon.metrics.api.Counter;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.Tag;

/** Counts what recording payments did, so a charge and a replay can be told apart on a dashboard. */
final class PaymentMetrics {

    private final Map<PaymentStore.Outcome, Counter> outcomes = new EnumMap<>(PaymentStore.Outcome.class);

    PaymentMetrics(MeterRegistry registry) {
        for (PaymentStore.Outcome outcome : PaymentStore.Outcome.values()) {
            outcomes.put(outcome, registry.getOrCreate(Counter.builder("payments")
                    .description("Payment requests by what they did: recorded, already_recorded, conflict")
                    .addTag(Tag.create("outcome", outcome.name().toLowerCase(java.util.Locale.ROOT)))));
        }
    }

    void recorded(PaymentStore.Outcome outcome) {
        outcomes.get(outcome).increment();
    }
}
