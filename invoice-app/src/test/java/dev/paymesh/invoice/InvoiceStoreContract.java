package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Currency;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.is;

/**
 * What every {@link InvoiceStore} promises; each implementation runs these same tests through a
 * subclass that says how to make a store holding the seed.
 */
abstract class InvoiceStoreContract {

    static final Duration LONG_LEASE = Duration.ofHours(1);

    /** A store holding only the three seed invoices, whose claims last {@code lease}. */
    abstract InvoiceStore seededStore(Duration lease);

    static Invoice invoice(String id, String value, String currency) {
        return new Invoice(id, new BigDecimal(value), Currency.getInstance(currency), Invoice.State.UNPAID);
    }

    private static List<String> ids(List<InvoiceStore.Claimed> claimed) {
        return claimed.stream().map(claim -> claim.invoice().id()).toList();
    }

    private static Invoice.State state(InvoiceStore store, String id) {
        return store.find(id).orElseThrow().state();
    }

    @Test
    void holdsTheSeedExactly() {
        InvoiceStore store = seededStore(LONG_LEASE);
        assertThat(store.list(Optional.empty()), is(List.of(
                invoice("I1", "12.15", "EUR"), invoice("I2", "10.25", "GBP"), invoice("I3", "66.13", "DKK"))));
    }

    @Test
    void createRefusesATakenId() {
        InvoiceStore store = seededStore(LONG_LEASE);
        assertThat(store.create(invoice("N1", "7.50", "EUR")), is(true));
        assertThat(store.create(invoice("N1", "1.00", "USD")), is(false));
        assertThat(store.create(invoice("I1", "1.00", "USD")), is(false));
        assertThat(store.find("N1"), is(Optional.of(invoice("N1", "7.50", "EUR"))));
        assertThat(store.find("I1"), is(Optional.of(invoice("I1", "12.15", "EUR"))));
        assertThat(store.find("nope"), is(Optional.empty()));
    }

    @Test
    void everyAmountIsAnsweredInItsCurrencysMinorUnitsWhateverScaleItCameWith() {
        InvoiceStore store = seededStore(LONG_LEASE);
        // One expected answer for every store: the in-memory one and PostgreSQL give the same bytes.
        Map<String, String> answers = Map.of(
                "{\"InvoiceId\":\"N1\",\"Value\":3,\"Currency\":\"GBP\"}",
                "{\"InvoiceId\":\"N1\",\"Value\":3.00,\"Currency\":\"GBP\",\"IsPaid\":false}",
                "{\"InvoiceId\":\"N2\",\"Value\":1E+3,\"Currency\":\"EUR\"}",
                "{\"InvoiceId\":\"N2\",\"Value\":1000.00,\"Currency\":\"EUR\",\"IsPaid\":false}",
                "{\"InvoiceId\":\"N3\",\"Value\":12.1500000,\"Currency\":\"EUR\"}",
                "{\"InvoiceId\":\"N3\",\"Value\":12.15,\"Currency\":\"EUR\",\"IsPaid\":false}",
                "{\"InvoiceId\":\"N4\",\"Value\":1500.00,\"Currency\":\"JPY\"}",
                "{\"InvoiceId\":\"N4\",\"Value\":1500,\"Currency\":\"JPY\",\"IsPaid\":false}",
                "{\"InvoiceId\":\"N5\",\"Value\":1.125,\"Currency\":\"KWD\"}",
                "{\"InvoiceId\":\"N5\",\"Value\":1.125,\"Currency\":\"KWD\",\"IsPaid\":false}",
                "{\"InvoiceId\":\"N6\",\"Value\":999999999999999.99,\"Currency\":\"EUR\"}",
                "{\"InvoiceId\":\"N6\",\"Value\":999999999999999.99,\"Currency\":\"EUR\",\"IsPaid\":false}");
        answers.forEach((request, answer) -> {
            Invoice invoice = InvoiceRequestParser.parse(request);
            assertThat(request, store.create(invoice), is(true));
            assertThat(store.find(invoice.id()).orElseThrow().toJson().toString(), is(answer));
        });
        assertThat(store.list(Optional.empty()).stream().filter(invoice -> invoice.id().equals("N2"))
                .map(invoice -> invoice.toJson().toString()).toList(), is(List.of(answers.get(
                "{\"InvoiceId\":\"N2\",\"Value\":1E+3,\"Currency\":\"EUR\"}"))));
    }

    @Test
    void listsOrderedByIdAndFiltersByPaid() {
        InvoiceStore store = seededStore(LONG_LEASE);
        List<String> extra = List.of("b", "B", "a-1", "a_1", "a.1", "10", "9", "Z");
        extra.forEach(id -> store.create(invoice(id, "1", "EUR")));
        // By their bytes, written out rather than sorted with the comparator a store might share.
        List<String> expected = List.of("10", "9", "B", "I1", "I2", "I3", "Z", "a-1", "a.1", "a_1", "b");
        assertThat(store.list(Optional.empty()).stream().map(Invoice::id).toList(), is(expected));

        store.claimUnpaid("run-1");
        store.markPaid("b", "run-1");
        store.release("Z", "run-1", false);
        assertThat(store.list(Optional.of(true)), is(List.of(
                new Invoice("b", BigDecimal.ONE, Currency.getInstance("EUR"), Invoice.State.PAID))));
        List<Invoice> unpaid = store.list(Optional.of(false));
        assertThat(unpaid.size(), is(expected.size() - 1));
        assertThat("a claimed invoice still reads as unpaid", unpaid.getFirst().state(), is(Invoice.State.PAYING));
        assertThat(state(store, "Z"), is(Invoice.State.UNPAID));
    }

    /** Every invoice of {@code list(paid)}, read page by page as a client follows the next links. */
    private static List<Invoice> readByPages(InvoiceStore store, Optional<Boolean> paid, int limit) {
        List<Invoice> read = new ArrayList<>();
        Optional<String> after = Optional.empty();
        while (true) {
            List<Invoice> page = store.list(paid, after, limit);
            assertThat("a page is never longer than its limit", page.size() <= limit, is(true));
            read.addAll(page);
            if (page.size() < limit) {
                return read;
            }
            after = Optional.of(page.getLast().id());
        }
    }

    @Test
    void pagesCoverEveryInvoiceOnceInOrderWithAndWithoutTheFilter() {
        InvoiceStore store = seededStore(LONG_LEASE);
        List.of("b", "B", "a-1", "a_1", "a.1", "10", "9", "Z").forEach(id -> store.create(invoice(id, "1", "EUR")));
        store.claimUnpaid("run-1");
        List.of("b", "I2", "9").forEach(id -> store.markPaid(id, "run-1"));
        List.of("10", "B", "I1", "I3", "Z", "a-1", "a.1", "a_1").forEach(id -> store.release(id, "run-1", false));
        for (Optional<Boolean> paid : List.of(Optional.<Boolean>empty(), Optional.of(true), Optional.of(false))) {
            List<Invoice> whole = store.list(paid);
            for (int limit = 1; limit <= whole.size() + 1; limit++) {
                assertThat("paid " + paid + ", limit " + limit, readByPages(store, paid, limit), is(whole));
            }
        }
        assertThat(store.list(Optional.of(true)).stream().map(Invoice::id).toList(), is(List.of("9", "I2", "b")));
        assertThat(store.list(Optional.of(false)).size(), is(8));
    }

    @Test
    void aPageStartsAfterTheIdGivenWhetherOrNotSuchAnInvoiceExists() {
        InvoiceStore store = seededStore(LONG_LEASE);
        assertThat(store.list(Optional.empty(), Optional.empty(), 2), is(List.of(
                invoice("I1", "12.15", "EUR"), invoice("I2", "10.25", "GBP"))));
        assertThat(store.list(Optional.empty(), Optional.of("I1"), 1), is(List.of(invoice("I2", "10.25", "GBP"))));
        assertThat(store.list(Optional.empty(), Optional.of("I1"), 5), is(List.of(
                invoice("I2", "10.25", "GBP"), invoice("I3", "66.13", "DKK"))));
        // Not ids of invoices: by their bytes "I15" sorts between I1 and I2, "H" before and "i" after them all.
        assertThat(store.list(Optional.empty(), Optional.of("I15"), 5).stream().map(Invoice::id).toList(),
                is(List.of("I2", "I3")));
        assertThat(store.list(Optional.empty(), Optional.of("H"), 5).size(), is(3));
        assertThat(store.list(Optional.empty(), Optional.of("I3"), 5), is(empty()));
        assertThat(store.list(Optional.empty(), Optional.of("i"), 5), is(empty()));
        assertThat(store.list(Optional.of(true), Optional.empty(), 5), is(empty()));
        assertThat(store.list(Optional.of(false), Optional.of("I2"), Integer.MAX_VALUE),
                is(List.of(invoice("I3", "66.13", "DKK"))));
    }

    @Test
    void aClaimTakesEveryUnpaidInvoiceOnce() {
        InvoiceStore store = seededStore(LONG_LEASE);
        List<InvoiceStore.Claimed> claimed = store.claimUnpaid("run-1");
        assertThat(ids(claimed), is(List.of("I1", "I2", "I3")));
        assertThat(claimed.getFirst().invoice(),
                is(new Invoice("I1", new BigDecimal("12.15"), Currency.getInstance("EUR"), Invoice.State.PAYING)));
        assertThat(claimed.stream().noneMatch(InvoiceStore.Claimed::outcomeUnknown), is(true));
        assertThat(store.claimUnpaid("run-2"), is(empty()));
        assertThat(store.claimUnpaid("run-1"), is(empty()));
        assertThat(state(store, "I2"), is(Invoice.State.PAYING));
        assertThat(store.find("I2").orElseThrow().isPaid(), is(false));
    }

    @Test
    void onlyTheOwnerOfAClaimMovesTheInvoice() {
        InvoiceStore store = seededStore(LONG_LEASE);
        store.claimUnpaid("run-1");
        assertThat(store.startPayment("I1", "run-2"), is(false));
        assertThat(store.markPaid("I1", "run-2"), is(false));
        assertThat(store.release("I2", "run-2", false), is(false));
        assertThat(state(store, "I1"), is(Invoice.State.PAYING));
        assertThat(state(store, "I2"), is(Invoice.State.PAYING));

        assertThat(store.startPayment("I1", "run-1"), is(true));
        assertThat(store.markPaid("I1", "run-1"), is(true));
        assertThat(store.release("I2", "run-1", false), is(true));
        assertThat(state(store, "I1"), is(Invoice.State.PAID));
        assertThat(state(store, "I2"), is(Invoice.State.UNPAID));
        // Neither a paid nor a released invoice is claimed any more, so its former owner cannot move it.
        assertThat(store.release("I1", "run-1", false), is(false));
        assertThat(store.markPaid("I2", "run-1"), is(false));
        assertThat(store.startPayment("I2", "run-1"), is(false));
        assertThat(state(store, "I1"), is(Invoice.State.PAID));
        assertThat(state(store, "I2"), is(Invoice.State.UNPAID));
        assertThat(store.markPaid("nope", "run-1"), is(false));

        assertThat(ids(store.claimUnpaid("run-3")), is(List.of("I2")));
    }

    @Test
    void aPaidInvoiceIsNeverClaimedAgainEvenPastTheLease() {
        InvoiceStore store = seededStore(Duration.ZERO);
        store.claimUnpaid("run-1");
        store.markPaid("I1", "run-1");
        assertThat(ids(store.claimUnpaid("run-2")), is(List.of("I2", "I3")));
        assertThat(state(store, "I1"), is(Invoice.State.PAID));
    }

    @Test
    void aRefusedInvoiceStaysUnpaidAndIsNeverClaimedAgainEvenPastTheLease() {
        InvoiceStore store = seededStore(Duration.ZERO);
        store.claimUnpaid("run-1");
        assertThat(store.refuse("I2", "run-2"), is(false));
        assertThat(store.startPayment("I2", "run-1"), is(true));
        assertThat(store.refuse("I2", "run-1"), is(true));
        assertThat(state(store, "I2"), is(Invoice.State.REFUSED));
        assertThat(store.find("I2").orElseThrow().isPaid(), is(false));
        assertThat(store.list(Optional.of(false)).stream().map(Invoice::id).toList(), is(List.of("I1", "I2", "I3")));
        // Its former owner can no longer move it, and no later run takes it.
        assertThat(store.markPaid("I2", "run-1"), is(false));
        assertThat(store.release("I2", "run-1", false), is(false));
        assertThat(ids(store.claimUnpaid("run-2")), is(List.of("I1", "I3")));
        assertThat(state(store, "I2"), is(Invoice.State.REFUSED));
    }

    @Test
    void aLiveClaimIsNotTakenOver() {
        InvoiceStore store = seededStore(LONG_LEASE);
        store.claimUnpaid("run-1");
        store.startPayment("I1", "run-1");
        assertThat(store.claimUnpaid("run-2"), is(empty()));
        assertThat(store.markPaid("I1", "run-1"), is(true));
    }

    @Test
    void anExpiredClaimIsTakenOverAndItsFormerOwnerCanNoLongerActOnIt() {
        InvoiceStore store = seededStore(Duration.ZERO);
        store.claimUnpaid("dead-run");
        assertThat(store.startPayment("I1", "dead-run"), is(true));

        List<InvoiceStore.Claimed> taken = store.claimUnpaid("run-2");
        assertThat(ids(taken), is(List.of("I1", "I2", "I3")));
        // The dead run may have sent a payment for any invoice it claimed: the new owner must ask first.
        assertThat(taken.stream().map(InvoiceStore.Claimed::outcomeUnknown).toList(), contains(true, true, true));

        assertThat(store.markPaid("I1", "dead-run"), is(false));
        assertThat(store.release("I2", "dead-run", false), is(false));
        assertThat(store.startPayment("I3", "dead-run"), is(false));
        assertThat(state(store, "I1"), is(Invoice.State.PAYING));
        assertThat(store.markPaid("I1", "run-2"), is(true));
        assertThat(state(store, "I1"), is(Invoice.State.PAID));
    }

    @Test
    void anUnknownOutcomeIsHandedToTheNextClaimUntilItIsSettled() {
        InvoiceStore store = seededStore(LONG_LEASE);
        store.claimUnpaid("run-1");
        store.startPayment("I1", "run-1");
        store.startPayment("I2", "run-1");
        assertThat(store.release("I1", "run-1", true), is(true));
        assertThat(store.release("I2", "run-1", false), is(true));
        assertThat(store.release("I3", "run-1", false), is(true));

        List<InvoiceStore.Claimed> next = store.claimUnpaid("run-2");
        assertThat(ids(next), is(List.of("I1", "I2", "I3")));
        assertThat(next.stream().map(InvoiceStore.Claimed::outcomeUnknown).toList(), contains(true, false, false));

        store.release("I1", "run-2", false);
        store.release("I2", "run-2", false);
        store.release("I3", "run-2", false);
        assertThat(store.claimUnpaid("run-3").stream().noneMatch(InvoiceStore.Claimed::outcomeUnknown), is(true));
    }

    @Test
    void concurrentClaimsNeverTakeTheSameInvoiceTwice() throws Exception {
        InvoiceStore store = seededStore(LONG_LEASE);
        int invoices = 400;
        for (int i = 0; i < invoices; i++) {
            store.create(invoice("X" + i, "1", "EUR"));
        }
        int claimers = 8;
        List<String> claimed = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Object>> futures = new ArrayList<>();
        try (ExecutorService executor = Executors.newFixedThreadPool(claimers)) {
            for (int t = 0; t < claimers; t++) {
                String owner = "run-" + t;
                futures.add(executor.submit(() -> {
                    start.await();
                    for (int round = 0; round < 3; round++) {
                        store.claimUnpaid(owner).forEach(claim -> claimed.add(claim.invoice().id()));
                    }
                    return null;
                }));
            }
            start.countDown();
        }
        for (Future<Object> future : futures) {
            future.get(); // a claimer that threw fails the test here
        }
        Set<String> unique = new HashSet<>(claimed);
        assertThat("an invoice was claimed twice", unique.size(), is(claimed.size()));
        assertThat("an invoice was never claimed", unique.size(), is(invoices + 3));
    }
    @Test
    void claimsComeInBatchesAfterTheGivenIdAndInIdOrder() {
        InvoiceStore store = seededStore(LONG_LEASE);
        store.create(invoice("I0", "1", "EUR"));
        store.create(invoice("I4", "1", "EUR"));
        store.claimUnpaid("other", "I0", 1); // I1 is another run's
        assertThat(ids(store.claimUnpaid("run-1", null, 2)), is(List.of("I0", "I2")));
        assertThat(ids(store.claimUnpaid("run-1", "I2", 2)), is(List.of("I3", "I4")));
        assertThat(store.claimUnpaid("run-1", "I4", 2), is(empty()));
        // A released invoice is claimable again, but only by a claim that starts before it.
        store.release("I2", "run-1", false);
        assertThat(store.claimUnpaid("run-1", "I4", 2), is(empty()));
        assertThat(ids(store.claimUnpaid("run-2", null, 10)), is(List.of("I2")));
    }

    @Test
    void aClaimNotesThatAPaymentMayBeSentAndReportsWhatWasKnownBefore() {
        InvoiceStore store = seededStore(Duration.ZERO);
        List<InvoiceStore.Claimed> first = store.claimUnpaid("run-1", null, 10);
        assertThat(first.stream().noneMatch(InvoiceStore.Claimed::outcomeUnknown), is(true));
        // Past the lease, a second run finds all three possibly sent.
        List<InvoiceStore.Claimed> second = store.claimUnpaid("run-2", null, 10);
        assertThat(second.stream().allMatch(InvoiceStore.Claimed::outcomeUnknown), is(true));
    }

    @Test
    void aBatchIsRenewedAndSettledInOneCallForTheClaimsStillHeld() {
        InvoiceStore store = seededStore(LONG_LEASE);
        store.create(invoice("I4", "1", "EUR"));
        store.claimUnpaid("run-1", null, 3);
        store.claimUnpaid("run-2", null, 10);
        assertThat(store.renew("run-1", List.of("I1", "I2", "I4", "nope")), is(Set.of("I1", "I2")));
        assertThat(store.settle("run-1", Map.of(
                        "I1", InvoiceStore.Settlement.PAID,
                        "I2", InvoiceStore.Settlement.UNKNOWN,
                        "I3", InvoiceStore.Settlement.REFUSED,
                        "I4", InvoiceStore.Settlement.PAID)),
                is(Set.of("I1", "I2", "I3")));
        assertThat(state(store, "I1"), is(Invoice.State.PAID));
        assertThat(state(store, "I2"), is(Invoice.State.UNPAID));
        assertThat(state(store, "I3"), is(Invoice.State.REFUSED));
        assertThat("run-2's claim is untouched", state(store, "I4"), is(Invoice.State.PAYING));
        assertThat(store.settle("run-2", Map.of("I4", InvoiceStore.Settlement.NOT_PAID)), is(Set.of("I4")));

        List<InvoiceStore.Claimed> next = store.claimUnpaid("run-3");
        assertThat(ids(next), is(List.of("I2", "I4")));
        assertThat(next.stream().map(InvoiceStore.Claimed::outcomeUnknown).toList(), contains(true, false));
        assertThat("nothing to settle is nothing changed", store.settle("run-3", Map.of()), is(empty()));
    }
}
