package dev.paymesh.payment;

import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/** Payments kept in this process only: for a laptop and for tests, lost on restart. */
public final class InMemoryPaymentStore implements PaymentStore {

    private final ConcurrentMap<String, Payment> payments = new ConcurrentHashMap<>();

    @Override
    public Outcome record(Payment payment) {
        Payment existing = payments.putIfAbsent(payment.id(), payment);
        if (existing == null) {
            return Outcome.RECORDED;
        }
        return existing.sameChargeAs(payment) ? Outcome.ALREADY_RECORDED : Outcome.CONFLICT;
    }

    @Override
    public Optional<Payment> find(String id) {
        return Optional.ofNullable(payments.get(id));
    }
}
