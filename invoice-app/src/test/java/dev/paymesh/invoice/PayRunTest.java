package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Currency;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import io.helidon.http.Headers;
import io.helidon.http.ServerRequestHeaders;
import io.helidon.http.WritableHeaders;
import io.helidon.metrics.api.Metrics;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.instanceOf;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThanOrEqualTo;
import static org.hamcrest.Matchers.nullValue;

/**
 * Pay runs on the in-memory store: a batch at a time, never sending on a claim another run took over,
 * stopping at the time budget, and, stopped part way, handing back at once what was claimed but never sent.
 */
class PayRunTest {

    private static final ServerRequestHeaders NO_HEADERS = ServerRequestHeaders.create(WritableHeaders.create());
    private static final PaymentMetrics METRICS = new PaymentMetrics(Metrics.globalRegistry());

    /** A run in a platform thread of its own, and what it threw, if anything. */
    private record Running(Thread thread, AtomicReference<Throwable> ended) {
        static Running start(PayRun run) {
            AtomicReference<Throwable> ended = new AtomicReference<>();
            Thread thread = Thread.ofPlatform().start(() -> {
                try {
                    run.payAllUnpaid(NO_HEADERS);
                } catch (Throwable e) {
                    ended.set(e);
                }
            });
            return new Running(thread, ended);
        }
    }

    @Test
    void anInterruptedRunReleasesTheClaimsItNeverSent() throws Exception {
        // A lease of an hour: only an explicit release can make the invoices claimable again now.
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        HeldPaymentClient client = new HeldPaymentClient();
        PayRun run = new PayRun(store, client, TestApps.payRunSettings(1, Duration.ofHours(1), 256), METRICS, "test");
        Running runner = Running.start(run);
        client.firstSent.await();
        // I1 is in flight and holds the only slot; the run waits for it (or is about to) to send I2.
        runner.thread().interrupt();
        client.letGo.countDown();
        runner.thread().join();

        assertThat(runner.ended().get(), instanceOf(InterruptedException.class));
        assertThat(store.find("I1").orElseThrow().state(), is(Invoice.State.PAID));
        assertThat(store.find("I2").orElseThrow().state(), is(Invoice.State.UNPAID));
        assertThat(store.find("I3").orElseThrow().state(), is(Invoice.State.UNPAID));
        assertThat(store.claimUnpaid("next-run").stream().map(claim -> claim.invoice().id()).toList(),
                is(List.of("I2", "I3")));
    }

    @Test
    void anInterruptedRunAlsoReleasesTheBatchItClaimedAhead() throws Exception {
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        HeldPaymentClient client = new HeldPaymentClient();
        // Batches of one: while I1 is sent, I2 is claimed ahead.
        PayRun run = new PayRun(store, client, TestApps.payRunSettings(1, Duration.ofHours(1), 1), METRICS, "test");
        Running runner = Running.start(run);
        client.firstSent.await();
        TestApps.awaitState(store, "I2", Invoice.State.PAYING);
        runner.thread().interrupt();
        client.letGo.countDown();
        runner.thread().join();

        assertThat(store.find("I1").orElseThrow().state(), is(Invoice.State.PAID));
        assertThat(store.claimUnpaid("next-run").stream().map(claim -> claim.invoice().id()).toList(),
                is(List.of("I2", "I3")));
    }

    /**
     * The in-memory store, with every claim after a run's first held until the test lets it go, or,
     * with {@code holdSettles}, every recording of a batch instead.
     */
    private static final class HeldClaims implements InvoiceStore {
        final InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        final CountDownLatch aheadAsked = new CountDownLatch(1);
        final CountDownLatch letGo = new CountDownLatch(1);
        final boolean holdSettles;

        HeldClaims() {
            this(false);
        }

        HeldClaims(boolean holdSettles) {
            this.holdSettles = holdSettles;
        }

        private void hold() {
            aheadAsked.countDown();
            try {
                letGo.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public List<Claimed> claimUnpaid(String owner, String after, int limit) {
            if (after != null && !holdSettles) {
                hold();
            }
            return store.claimUnpaid(owner, after, limit);
        }

        @Override
        public List<Invoice> list(Optional<Boolean> paid, Optional<String> after, int limit) {
            return store.list(paid, after, limit);
        }

        @Override
        public Optional<Invoice> find(String id) {
            return store.find(id);
        }

        @Override
        public boolean create(Invoice invoice) {
            return store.create(invoice);
        }

        @Override
        public Set<String> renew(String owner, java.util.Collection<String> ids) {
            return store.renew(owner, ids);
        }

        @Override
        public Set<String> settle(String owner, java.util.Map<String, Settlement> settlements) {
            if (holdSettles) {
                hold();
            }
            return store.settle(owner, settlements);
        }
    }

    @Test
    void aRunWhoseRecordingLagsHoldsAtMostThreeBatchesClaimed() throws Exception {
        HeldClaims store = new HeldClaims(true);
        for (String id : List.of("I4", "I5", "I6")) {
            store.create(new Invoice(id, new BigDecimal("3.00"), Currency.getInstance("EUR"), Invoice.State.UNPAID));
        }
        CountingClient client = new CountingClient(store);
        PayRun run = new PayRun(store, client, TestApps.payRunSettings(4, Duration.ofHours(1), 1), METRICS, "test");
        Running runner = Running.start(run);
        // I1's recording is held: I2 may be sent (its recording waits behind I1's) and I3 claimed ahead.
        assertThat(store.aheadAsked.await(10, java.util.concurrent.TimeUnit.SECONDS), is(true));
        sleep(Duration.ofMillis(300));
        assertThat(store.list(Optional.of(false)).stream().filter(unpaid -> unpaid.state() == Invoice.State.PAYING)
                .map(Invoice::id).toList(), is(List.of("I1", "I2", "I3")));
        store.letGo.countDown();
        runner.thread().join();

        assertThat(runner.ended().get(), nullValue());
        assertThat(client.sent, is(List.of("I1", "I2", "I3", "I4", "I5", "I6")));
        assertThat(store.list(Optional.of(false)), is(empty()));
    }

    @Test
    void aRunInterruptedWhileItWaitsForTheBatchClaimedAheadHandsThatBatchBack() throws Exception {
        HeldClaims store = new HeldClaims();
        CountingClient client = new CountingClient(store);
        PayRun run = new PayRun(store, client, TestApps.payRunSettings(1, Duration.ofHours(1), 1), METRICS, "test");
        Running runner = Running.start(run);
        // I1 is paid at once; the run then waits for I2's claim, which the store holds.
        TestApps.awaitState(store, "I1", Invoice.State.PAID);
        assertThat(store.aheadAsked.await(10, java.util.concurrent.TimeUnit.SECONDS), is(true));
        runner.thread().interrupt();
        store.letGo.countDown();
        runner.thread().join();

        assertThat(runner.ended().get(), instanceOf(InterruptedException.class));
        assertThat(client.sent, is(List.of("I1")));
        assertThat(store.claimUnpaid("next-run").stream().map(claim -> claim.invoice().id()).toList(),
                is(List.of("I2", "I3")));
    }

    @Test
    void anUnknownOutcomeReleasedUnsentIsStillLookedUpFirst() throws Exception {
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        // An earlier run sent I2 and lost the answer.
        store.claimUnpaid("earlier");
        store.startPayment("I2", "earlier");
        store.release("I1", "earlier", false);
        store.release("I2", "earlier", true);
        store.release("I3", "earlier", false);
        HeldPaymentClient client = new HeldPaymentClient();
        PayRun run = new PayRun(store, client, TestApps.payRunSettings(1, Duration.ofHours(1), 256), METRICS, "test");
        Running runner = Running.start(run);
        client.firstSent.await();
        runner.thread().interrupt();
        client.letGo.countDown();
        runner.thread().join();

        Optional<InvoiceStore.Claimed> i2 = store.claimUnpaid("next-run").stream()
                .filter(claim -> claim.invoice().id().equals("I2")).findFirst();
        assertThat(i2.orElseThrow().outcomeUnknown(), is(true));
    }

    /**
     * Pays in batches of two: I4 is refused and I6 left unknown by its batch, though recorded; notes
     * every single payment, batch and lookup.
     */
    private static final class BatchingClient implements PaymentClient {
        final List<String> singles = new CopyOnWriteArrayList<>();
        final List<List<String>> batches = new CopyOnWriteArrayList<>();
        final List<String> lookups = new CopyOnWriteArrayList<>();

        @Override
        public int batchLimit() {
            return 2;
        }

        @Override
        public Result pay(Invoice invoice, Headers incoming) {
            singles.add(invoice.id());
            return new Result.Paid();
        }

        @Override
        public List<Result> payAll(List<Invoice> invoices, Headers incoming) {
            batches.add(invoices.stream().map(Invoice::id).toList());
            return invoices.stream().map(invoice -> switch (invoice.id()) {
                case "I4" -> (Result) new Result.Refused("payment-provider answered 409: conflict");
                case "I6" -> new Result.Unknown("payment-provider answered 503 to a batch");
                default -> new Result.Paid();
            }).toList();
        }

        @Override
        public Result reconcile(Invoice invoice, Headers incoming) {
            lookups.add(invoice.id());
            return invoice.id().equals("I6") ? new Result.Paid() : new Result.NotPaid("no payment");
        }
    }

    @Test
    void aRunPaysInBatchesButAnInvoiceWhoseOutcomeIsUnknownAloneAndLookedUpFirst() throws Exception {
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        for (String id : List.of("I4", "I5", "I6")) {
            store.create(new Invoice(id, new BigDecimal("3.00"), Currency.getInstance("EUR"), Invoice.State.UNPAID));
        }
        // An earlier run sent I2 and lost the answer.
        store.claimUnpaid("earlier");
        store.startPayment("I2", "earlier");
        for (String id : List.of("I1", "I2", "I3", "I4", "I5", "I6")) {
            store.release(id, "earlier", id.equals("I2"));
        }
        BatchingClient client = new BatchingClient();
        PayRun.Report report = new PayRun(store, client, TestApps.payRunSettings(4, Duration.ofHours(1), 256), METRICS, "test")
                .payAllUnpaid(NO_HEADERS);

        // I1 goes alone, as the next claim (I2) must be looked up before it is sent; I2 alone after its lookup.
        assertThat(client.singles.stream().sorted().toList(), is(List.of("I1", "I2")));
        assertThat(client.batches.stream().sorted(java.util.Comparator.comparing(List::getFirst)).toList(),
                is(List.of(List.of("I3", "I4"), List.of("I5", "I6"))));
        assertThat(client.lookups.stream().sorted().toList(), is(List.of("I2", "I6")));
        assertThat(report.paid().stream().sorted().toList(), is(List.of("I1", "I2", "I3", "I5", "I6")));
        assertThat(report.failed().stream().map(PayRun.Failure::invoiceId).toList(), is(List.of("I4")));
        for (String id : List.of("I1", "I2", "I3", "I5", "I6")) {
            assertThat(id, store.find(id).orElseThrow().state(), is(Invoice.State.PAID));
        }
        assertThat(store.find("I4").orElseThrow().state(), is(Invoice.State.REFUSED));
    }

    /** Pays everything, noting at each payment how many invoices its run held claimed. */
    private static final class CountingClient implements PaymentClient {
        final InvoiceStore store;
        final List<String> sent = new CopyOnWriteArrayList<>();
        final List<Integer> claimedAtEachPayment = new CopyOnWriteArrayList<>();
        Runnable duringFirstPayment = () -> { };

        CountingClient(InvoiceStore store) {
            this.store = store;
        }

        @Override
        public Result pay(Invoice invoice, Headers incoming) {
            if (sent.isEmpty()) {
                duringFirstPayment.run();
            }
            sent.add(invoice.id());
            claimedAtEachPayment.add((int) store.list(Optional.of(false)).stream()
                    .filter(unpaid -> unpaid.state() == Invoice.State.PAYING).count());
            return new Result.Paid();
        }

        @Override
        public Result reconcile(Invoice invoice, Headers incoming) {
            return new Result.NotPaid("no payment");
        }
    }

    @Test
    void aRunClaimsAndRecordsABatchAtATimeAndPaysEachInvoiceOnce() throws Exception {
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        for (int i = 0; i < 20; i++) {
            store.create(new Invoice("B" + (100 + i), BigDecimal.ONE, Currency.getInstance("EUR"), Invoice.State.UNPAID));
        }
        CountingClient client = new CountingClient(store);
        PayRun run = new PayRun(store, client, TestApps.payRunSettings(3, Duration.ofHours(1), 8), METRICS, "test");

        PayRun.Report report = run.payAllUnpaid(NO_HEADERS);

        assertThat(report.paid().size(), is(23));
        assertThat(report.failed(), is(empty()));
        assertThat(report.unfinished(), is(nullValue()));
        assertThat("each invoice sent once", Set.copyOf(client.sent).size(), is(23));
        assertThat(client.sent.size(), is(23));
        // A batch is recorded while the next is sent and the one after it claimed, so three may be
        // claimed at once, never more.
        assertThat(client.claimedAtEachPayment, everyItem(lessThanOrEqualTo(24)));
        assertThat(store.list(Optional.of(false)), is(empty()));
    }

    @Test
    void aRunSendsNothingMoreOnceAnotherRunHasTakenItsClaimsOver() throws Exception {
        MutableClock clock = new MutableClock();
        Duration lease = Duration.ofMinutes(1);
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(lease, clock);
        CountingClient client = new CountingClient(store);
        // Another run takes everything over while I1 is being paid: this run looked dead to it.
        client.duringFirstPayment = () -> {
            clock.advance(lease.plusSeconds(1));
            assertThat(store.claimUnpaid("other-run").size(), is(3));
        };
        // A payment's worst case as long as the lease: every payment renews its claim first.
        PayRun run = new PayRun(store, client, new PayRun.Settings(1, lease, 256, lease, Duration.ofMinutes(1)),
                METRICS, "test");

        PayRun.Report report = run.payAllUnpaid(NO_HEADERS);

        assertThat("I2 and I3 are the other run's now", client.sent, is(List.of("I1")));
        assertThat(report.paid(), is(List.of("I1")));
        // The other run holds all three, and looks I1 up first because its claim says a payment may be out.
        assertThat(store.find("I1").orElseThrow().state(), is(Invoice.State.PAYING));
        assertThat(store.settle("other-run", java.util.Map.of("I1", InvoiceStore.Settlement.PAID)), is(Set.of("I1")));
    }

    @Test
    void aSynchronousRunStopsClaimingAtItsTimeBudget() throws Exception {
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        CountingClient client = new CountingClient(store);
        client.duringFirstPayment = () -> sleep(Duration.ofMillis(1100));
        // Batches of one, one payment at a time and a budget of one second: I2 is claimed while I1
        // is paid, and sent; I3 is claimed ahead while I2 waits for I1, which takes up the whole
        // budget, so I3 is handed back unsent.
        PayRun run = new PayRun(store, client, new PayRun.Settings(1, Duration.ofHours(1), 1, Duration.ofSeconds(14),
                Duration.ofSeconds(1)), METRICS, "test");

        PayRun.Report report = run.payAllUnpaid(NO_HEADERS);

        assertThat(report.unfinished(), is(PayRun.Unfinished.TIME_BUDGET));
        assertThat(report.paid(), is(List.of("I1", "I2")));
        assertThat(report.failed(), is(empty()));
        assertThat("what it did not reach is left to the next run",
                store.claimUnpaid("next-run").stream().map(claim -> claim.invoice().id()).toList(), is(List.of("I3")));
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A clock a test moves by hand. */
    private static final class MutableClock extends Clock {
        private volatile Instant now = Instant.parse("2026-01-01T00:00:00Z");

        void advance(Duration by) {
            now = now.plus(by);
        }

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }
    }
}
