package dev.paymesh.invoice;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.metrics.api.Metrics;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/**
 * Stopping the server stops its background pay runs: a run is interrupted, records the payment it
 * had in flight, hands back what it claimed and never sent, and shows as interrupted at once,
 * rather than holding its claims until their lease ends.
 */
class BackgroundRunStopTest {

    @Test
    void stoppingTheServerInterruptsABackgroundRunWhichHandsBackWhatItDidNotSend() throws Exception {
        // A lease of an hour: only the run's own hand-back can make I2 and I3 claimable again now.
        InMemoryInvoiceStore store = InMemoryInvoiceStore.seeded(Duration.ofHours(1), Clock.systemUTC());
        PayRunLog payRuns = new InMemoryPayRunLog();
        // I1 is the first payment, held until the test lets it go.
        HeldPaymentClient provider = new HeldPaymentClient();
        // Batches of one, one payment at a time: I2 waits for I1's slot, I3 is claimed ahead.
        var app = new InvoiceApp(store, payRuns, provider, TestApps.payRunSettings(1, Duration.ofHours(1), 1), 65536,
                Metrics.globalRegistry(), "test");
        WebServer server = WebServer.builder().host("127.0.0.1").port(0).routing(app::routing).build().start();
        Thread stopper;
        String id;
        try {
            var accepted = WebClient.builder().baseUri("http://127.0.0.1:" + server.port()).build()
                    .post("/invoices/pay").header(HeaderNames.create("Prefer"), "respond-async").request(String.class);
            assertThat(accepted.status(), is(Status.ACCEPTED_202));
            id = accepted.headers().first(HeaderNames.LOCATION).orElseThrow().substring("/invoices/pay-runs/".length());
            assertThat(provider.firstSent.await(10, TimeUnit.SECONDS), is(true));
            TestApps.awaitState(store, "I2", Invoice.State.PAYING);
        } finally {
            stopper = Thread.ofPlatform().start(server::stop);
        }
        // The stop interrupts the run, which hands I2 back at once, while I1 is still at the provider.
        TestApps.awaitState(store, "I2", Invoice.State.UNPAID);
        assertThat(stopper.isAlive(), is(true));
        provider.letGo.countDown();
        stopper.join(TimeUnit.SECONDS.toMillis(20));
        assertThat("the stop waited for the run to end", stopper.isAlive(), is(false));

        assertThat(provider.sent, is(List.of("I1")));
        assertThat(store.find("I1").orElseThrow().state(), is(Invoice.State.PAID));
        assertThat(store.claimUnpaid("next-run").stream().map(claim -> claim.invoice().id()).toList(),
                is(List.of("I2", "I3")));
        assertThat(payRuns.find(id).orElseThrow().state(), is(PayRunLog.State.INTERRUPTED));
    }
}
