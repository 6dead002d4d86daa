package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Currency;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

class InMemoryInvoiceStoreTest {

    @Test
    void concurrentClaimsNeverTakeTheSameInvoiceTwice() throws Exception {
        InMemoryInvoiceStore store = new InMemoryInvoiceStore();
        int invoices = 5_000;
        for (int i = 0; i < invoices; i++) {
            store.create(new Invoice("X" + i, BigDecimal.ONE, Currency.getInstance("EUR"), Invoice.State.UNPAID));
        }
        List<String> claimed = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch start = new CountDownLatch(1);
        try (ExecutorService executor = Executors.newFixedThreadPool(8)) {
            for (int t = 0; t < 8; t++) {
                executor.submit(() -> {
                    start.await();
                    store.claimUnpaid().forEach(invoice -> claimed.add(invoice.id()));
                    return null;
                });
            }
            start.countDown();
        }
        Set<String> unique = new HashSet<>(claimed);
        assertThat("an invoice was claimed twice", unique.size(), is(claimed.size()));
        assertThat("an invoice was never claimed", unique.size(), is(invoices));
    }

    @Test
    void releasedInvoicesAreClaimableAgainAndPaidOnesAreNot() {
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded();
        assertThat(store.claimUnpaid().size(), is(3));
        assertThat(store.claimUnpaid().size(), is(0));
        store.markPaid("I1");
        store.release("I2");
        store.release("I1");
        assertThat(store.find("I1").orElseThrow().isPaid(), is(true));
        assertThat(store.claimUnpaid().stream().map(Invoice::id).toList(), is(List.of("I2")));
        assertThat(store.list(Optional.of(true)).size(), is(1));
    }
}
