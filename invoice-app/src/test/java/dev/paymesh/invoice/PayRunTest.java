package dev.paymesh.invoice;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import io.helidon.http.Headers;
import io.helidon.http.ServerRequestHeaders;
import io.helidon.http.WritableHeaders;
import io.helidon.metrics.api.Metrics;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.instanceOf;
import static org.hamcrest.Matchers.is;

/** A pay run stopped part way: what it claimed but never sent goes back at once, not when the lease ends. */
class PayRunTest {

    private static final ServerRequestHeaders NO_HEADERS = ServerRequestHeaders.create(WritableHeaders.create());

    /** Pays, but holds the first payment until the test lets it go. */
    private static final class HeldClient implements PaymentClient {
        final CountDownLatch firstSent = new CountDownLatch(1);
        final CountDownLatch letGo = new CountDownLatch(1);

        @Override
        public Result pay(Invoice invoice, Headers incoming) {
            firstSent.countDown();
            try {
                letGo.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new Result.Paid();
        }

        @Override
        public Result reconcile(Invoice invoice, Headers incoming) {
            return new Result.NotPaid("no payment");
        }
    }

    @Test
    void anInterruptedRunReleasesTheClaimsItNeverSent() throws Exception {
        // A lease of an hour: only an explicit release can make the invoices claimable again now.
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        HeldClient client = new HeldClient();
        PayRun run = new PayRun(store, client, 1, new PaymentMetrics(Metrics.globalRegistry()), "test");
        AtomicReference<Throwable> ended = new AtomicReference<>();
        Thread runner = Thread.ofPlatform().start(() -> {
            try {
                run.payAllUnpaid(NO_HEADERS);
            } catch (Throwable e) {
                ended.set(e);
            }
        });
        client.firstSent.await();
        // I1 is in flight and holds the only slot; the run waits for it (or is about to) to send I2.
        runner.interrupt();
        client.letGo.countDown();
        runner.join();

        assertThat(ended.get(), instanceOf(InterruptedException.class));
        assertThat(store.find("I1").orElseThrow().state(), is(Invoice.State.PAID));
        assertThat(store.find("I2").orElseThrow().state(), is(Invoice.State.UNPAID));
        assertThat(store.find("I3").orElseThrow().state(), is(Invoice.State.UNPAID));
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
        HeldClient client = new HeldClient();
        PayRun run = new PayRun(store, client, 1, new PaymentMetrics(Metrics.globalRegistry()), "test");
        Thread runner = Thread.ofPlatform().start(() -> {
            try {
                run.payAllUnpaid(NO_HEADERS);
            } catch (InterruptedException e) {
                // expected
            }
        });
        client.firstSent.await();
        runner.interrupt();
        client.letGo.countDown();
        runner.join();

        Optional<InvoiceStore.Claimed> i2 = store.claimUnpaid("next-run").stream()
                .filter(claim -> claim.invoice().id().equals("I2")).findFirst();
        assertThat(i2.orElseThrow().outcomeUnknown(), is(true));
    }

    @Test
    void paymentsInFlightLeaveAQuarterOfThePoolToOtherRequests() {
        PayRun.Settings defaults = new PayRun.Settings(32, Duration.ofSeconds(60));
        assertThat(defaults.maxInFlightWithin(10), is(8));
        assertThat(defaults.maxInFlightWithin(5), is(4));
        assertThat(defaults.maxInFlightWithin(2), is(1));
        assertThat("a pool of one still pays", defaults.maxInFlightWithin(1), is(1));
        assertThat("a large pool leaves the setting as it is", defaults.maxInFlightWithin(100), is(32));
        assertThat(new PayRun.Settings(3, Duration.ofSeconds(60)).maxInFlightWithin(10), is(3));
    }
}
