package dev.paymesh.payment;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webclient.api.ClientResponseTyped;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

/**
 * The database goes away and comes back on the same address and data, as a database pod restarting
 * on its volume: the replica stays alive, leaves the load balancer, says so in JSON, records nothing
 * by halves and serves again once the database is back, with what was recorded before still there.
 */
class DatabaseOutageTest {

    private static final Duration BACK_WITHIN = Duration.ofSeconds(15);

    @TempDir
    Path dataDirectory;

    private int port;
    private EmbeddedPostgres postgres;
    private WebServer server;
    private WebClient client;

    @BeforeEach
    void startDatabaseAndService() {
        port = TestPostgres.freePort();
        postgres = TestPostgres.start(dataDirectory, port);
        TestPostgres.execute(postgres.getPostgresDatabase(), "CREATE DATABASE payments OWNER " + TestPostgres.USER);
        server = Main.start(TestPostgres.providerConfig(TestPostgres.jdbcUrl(postgres, "payments"), Map.of()));
        client = WebClient.builder().baseUri("http://127.0.0.1:" + server.port()).build();
    }

    @AfterEach
    void stopServiceAndDatabase() throws Exception {
        server.stop();
        postgres.close();
    }

    private ClientResponseTyped<String> pay(String id) {
        return client.post("/payments/pay")
                .submit("{\"id\":\"" + id + "\",\"value\":42.00,\"currency\":\"EUR\"}", String.class);
    }

    private ClientResponseTyped<String> get(String path) {
        return client.get(path).request(String.class);
    }

    @Test
    void outageIsReportedAndSurvivedAndNothingIsRecordedByHalves() throws Exception {
        assertThat(pay("O1").status(), is(Status.OK_200));
        assertThat(get("/observe/health/ready").status(), is(Status.OK_200));

        postgres.close();

        // First on connections the pool still holds from before, then on a pool with none left.
        assertUnavailableInJson(pay("O2"));
        var ready = get("/observe/health/ready");
        assertThat(ready.status(), is(Status.SERVICE_UNAVAILABLE_503));
        assertThat(ready.entity(), containsString("\"database\""));
        assertThat(get("/observe/health/live").status(), is(Status.OK_200));

        long start = System.nanoTime();
        var refused = pay("O2");
        assertThat("answered within the pool's wait", Duration.ofNanos(System.nanoTime() - start),
                lessThan(Duration.ofSeconds(5)));
        assertUnavailableInJson(refused);
        assertThat(refused.headers().first(HeaderNames.RETRY_AFTER).orElseThrow(), is("1"));
        assertUnavailableInJson(get("/payments/O1"));

        postgres = TestPostgres.start(dataDirectory, port);
        awaitReady();

        assertThat("the refused payment left nothing behind", get("/payments/O2").status(), is(Status.NOT_FOUND_404));
        assertThat(get("/payments/O1").entity(), is("{\"id\":\"O1\",\"value\":42.00,\"currency\":\"EUR\"}"));
        var retried = pay("O2");
        assertThat(retried.status(), is(Status.OK_200));
        assertThat(retried.entity(), is("{\"id\":\"O2\"}"));
        assertThat(pay("O2").status(), is(Status.OK_200));
        assertThat(get("/payments/O2").entity(), is("{\"id\":\"O2\",\"value\":42.00,\"currency\":\"EUR\"}"));
    }

    private static void assertUnavailableInJson(ClientResponseTyped<String> response) {
        assertThat(response.status(), is(Status.SERVICE_UNAVAILABLE_503));
        assertThat(response.headers().contentType().orElseThrow().text(), startsWith("application/json"));
        assertThat(response.entity(),
                is("{\"error\":\"payment store unavailable; retry later, a retried payment is charged at most once\"}"));
        for (String leak : List.of("Exception", "\tat ", "jdbc:", "SQL")) {
            assertThat(response.entity(), not(containsString(leak)));
        }
    }

    private void awaitReady() throws InterruptedException {
        long deadline = System.nanoTime() + BACK_WITHIN.toNanos();
        Status status = get("/observe/health/ready").status();
        while (status != Status.OK_200 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            status = get("/observe/health/ready").status();
        }
        assertThat("ready again within " + BACK_WITHIN, status, is(Status.OK_200));
    }
}
