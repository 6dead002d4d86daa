package dev.paymesh.invoice;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.startsWith;

/**
 * Background pay runs on a real PostgreSQL with two replicas: the run started on one is polled on
 * the other, as the gateway's load balancing has it, and a run whose replica vanished shows so.
 */
class AsyncPayRunTest {

    private final List<WebServer> replicas = new ArrayList<>();
    private FakePaymentProvider provider;

    @AfterEach
    void stop() {
        replicas.forEach(WebServer::stop);
        if (provider != null) {
            provider.close();
        }
    }

    private WebClient replica(String dbUrl) {
        WebServer replica = TestApps.start(dbUrl, provider.url(), Map.of("payment.claim-batch", "16"));
        replicas.add(replica);
        return TestApps.client(replica);
    }

    @Test
    void aRunStartedOnOneReplicaIsFollowedToItsAnswerOnAnother() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        provider = new FakePaymentProvider();
        WebClient first = replica(database.url());
        WebClient second = replica(database.url());
        for (int i = 0; i < 100; i++) {
            assertThat(TestApps.create(first, "A" + (1000 + i), "1.25"), is(Status.CREATED_201));
        }

        var accepted = first.post("/invoices/pay").header(HeaderNames.create("Prefer"), "respond-async")
                .request(String.class);
        assertThat(accepted.status(), is(Status.ACCEPTED_202));
        String location = accepted.headers().first(HeaderNames.LOCATION).orElseThrow();

        String done = null;
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (done == null && System.nanoTime() < deadline) {
            var polled = second.get(location).request(String.class);
            assertThat(polled.entity(), polled.status(), is(Status.OK_200));
            if (polled.entity().contains("\"state\":\"done\"")) {
                done = polled.entity();
            } else {
                assertThat(polled.entity(), polled.entity().contains("\"state\":\"running\",\"progress\":{"), is(true));
                Thread.sleep(20);
            }
        }
        assertThat("the run ended within 30 s", done != null, is(true));
        assertThat(done, startsWith("{\"id\":\"" + location.substring(location.lastIndexOf('/') + 1)
                + "\",\"state\":\"done\",\"status\":200,\"paid\":[\"A1000\","));
        assertThat(done, done.endsWith("\"I3\"],\"failed\":[]}"), is(true));
        assertThat(TestApps.paidIds(done).size(), is(103));
        assertThat(database.invoiceStates(), is(Map.of("PAID", 103)));
        assertThat(provider.allPosts().size(), is(103));
    }

    @Test
    void aRunWhoseReplicaStoppedWritingForTwoLeasesShowsAsInterrupted() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        provider = new FakePaymentProvider();
        WebClient client = replica(database.url());
        try (Connection connection = database.admin().getConnection();
             Statement statement = connection.createStatement()) {
            // Written 121 s ago, with application.yaml's lease of 60 s, and never since.
            statement.execute("INSERT INTO pay_run (id, paid, failed, updated_at)"
                    + " VALUES ('gone', 40, 1, now() - interval '121 seconds'), ('alive', 5, 0, now() - interval '100 seconds')");
        }
        assertThat(client.get("/invoices/pay-runs/gone").request(String.class).entity(),
                is("{\"id\":\"gone\",\"state\":\"interrupted\",\"progress\":{\"paid\":40,\"failed\":1}}"));
        assertThat(client.get("/invoices/pay-runs/alive").request(String.class).entity(),
                is("{\"id\":\"alive\",\"state\":\"running\",\"progress\":{\"paid\":5,\"failed\":0}}"));
    }
}
