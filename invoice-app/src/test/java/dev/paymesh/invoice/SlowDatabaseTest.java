package dev.paymesh.invoice;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;

/**
 * invoice-app on a real PostgreSQL that is slow to answer (every byte crosses a hop that delays it),
 * with the default payment.max-in-flight far above its pool: the pay run must finish with every
 * invoice paid and none left claimed, while reads go on being answered.
 */
class SlowDatabaseTest {

    private static final int INVOICES = 60;
    /** Each way, so every statement takes at least twice this. */
    private static final Duration LATENCY = Duration.ofMillis(50);

    @Test
    void aPayRunOnASlowDatabasePaysEverythingWhileReadsAreServed() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        int port = Integer.parseInt(database.url().replaceAll(".*:(\\d+)/.*", "$1"));
        try (FakePaymentProvider provider = new FakePaymentProvider();
             LatencyProxy slow = new LatencyProxy(port, LATENCY)) {
            // Migrated and filled without the delay, so that only the pay run and the reads cross it.
            JdbcInvoiceStoreTest.open(database.url()).close();
            try (Connection connection = database.admin().getConnection();
                 Statement statement = connection.createStatement()) {
                statement.execute("INSERT INTO invoice (id, amount, currency) SELECT 'SLOW-' || n, 1.50, 'EUR'"
                        + " FROM generate_series(0, " + (INVOICES - 1) + ") AS n");
            }
            // A pool of 5 waiting at most 500 ms for a connection (TestApps), and 32 payments in flight
            // as application.yaml has it.
            WebServer replica = TestApps.start(database.url().replace(":" + port + "/", ":" + slow.port() + "/"),
                    provider.url(), Map.of());
            try {
                WebClient client = TestApps.client(replica);
                List<Status> reads = new CopyOnWriteArrayList<>();
                AtomicBoolean paying = new AtomicBoolean(true);
                Thread reader = Thread.ofVirtual().start(() -> {
                    while (paying.get()) {
                        reads.add(client.get("/invoices/SLOW-0").request(String.class).status());
                    }
                });

                var run = TestApps.pay(client);
                paying.set(false);
                reader.join();

                assertThat(run.entity(), run.status(), is(Status.OK_200));
                assertThat(TestApps.paidIds(run.entity()).size(), is(INVOICES + 3));
                assertThat("reads were made while the run paid", reads.size(), is(greaterThan(0)));
                assertThat("every read was answered", reads, everyItem(is(Status.OK_200)));
            } finally {
                replica.stop();
            }
            assertThat("nothing stays claimed", database.invoiceStates(), is(Map.of("PAID", INVOICES + 3)));
            assertThat(provider.allPosts().size(), is(INVOICES + 3));
        }
    }
}
