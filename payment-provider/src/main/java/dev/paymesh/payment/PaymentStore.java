package dev.paymesh.payment;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Where payments are recorded, once per invoice id. */
public interface PaymentStore {

    /** What recording a payment did. */
    enum Outcome {
        /** The payment was new and is now recorded: the customer was charged. */
        RECORDED,
        /** The same payment was already recorded: nothing was charged again. */
        ALREADY_RECORDED,
        /** A different payment was already recorded under this id: nothing was charged. */
        CONFLICT
    }

    /** Records the payment unless one with its id exists; atomic per id. */
    Outcome record(Payment payment);

    /** What recording one payment of several did, or, with no outcome, why it could not be recorded. */
    record Recorded(Outcome outcome, RuntimeException failure) {
    }

    /**
     * Records each payment as {@link #record} does, the outcomes in the payments' order; each payment
     * succeeds or fails on its own, and of two with one id the earlier in the list is the one
     * recorded and the later is a replay or a conflict. A store that can write several at once
     * overrides this.
     */
    default List<Recorded> recordAll(List<Payment> payments) {
        List<Recorded> recorded = new ArrayList<>(payments.size());
        for (Payment payment : payments) {
            try {
                recorded.add(new Recorded(record(payment), null));
            } catch (RuntimeException e) {
                recorded.add(new Recorded(null, e));
            }
        }
        return recorded;
    }

    Optional<Payment> find(String id);
}
