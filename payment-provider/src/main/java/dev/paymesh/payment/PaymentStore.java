package dev.paymesh.payment;

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

    Optional<Payment> find(String id);
}
