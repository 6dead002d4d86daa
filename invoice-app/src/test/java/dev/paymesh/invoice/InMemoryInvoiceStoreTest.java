package dev.paymesh.invoice;

import java.time.Clock;
import java.time.Duration;

/** The store contract, in memory. */
class InMemoryInvoiceStoreTest extends InvoiceStoreContract {

    @Override
    InvoiceStore seededStore(Duration lease) {
        return InMemoryInvoiceStore.seeded(lease, Clock.systemUTC());
    }
}
