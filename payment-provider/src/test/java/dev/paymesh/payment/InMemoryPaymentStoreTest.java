package dev.paymesh.payment;

/** The store contract for the in-memory store. */
class InMemoryPaymentStoreTest extends PaymentStoreContract {

    @Override
    PaymentStore emptyStore() {
        return new InMemoryPaymentStore();
    }
}
