package dev.paymesh.payment;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.sql.DataSource;

import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;

/**
 * Two payment-provider replicas over one database, as in the cluster: payments for the same invoice
 * sent to both at once are charged once, whichever replica each request reaches.
 */
class TwoReplicasTest {

    private static final Pattern RECORDED_COUNTER =
            Pattern.compile("(?m)^payments_total\\{[^}]*outcome=\"recorded\"[^}]*} ([0-9.Ee+]+)$");
    private static final int IDS = 20;
    private static final int REQUESTS_PER_REPLICA_AND_ID = 4;

    private String url;
    private DataSource database;
    private List<WebServer> replicas;
    private List<WebClient> clients;

    @BeforeEach
    void startTwoReplicas() {
        url = TestPostgres.newDatabase();
        database = TestPostgres.admin(url.substring(url.lastIndexOf('/') + 1));
        // A burst of a few hundred requests queues for the 8 connections of each pool: let it wait
        // rather than be answered 503, which is what a pool too small for its load does.
        Map<String, String> patientPool = Map.of("db.pool.connection-timeout-millis", "20000");
        // One after the other: Helidon's metrics set-up is not safe for two servers built at once in
        // one JVM. Replicas migrating at the same time is PaymentDatabaseTest's concern.
        replicas = List.of(
                Main.start(TestPostgres.providerConfig(url, patientPool)),
                Main.start(TestPostgres.providerConfig(url, patientPool)));
        clients = replicas.stream()
                .map(server -> WebClient.builder().baseUri("http://127.0.0.1:" + server.port()).build())
                .toList();
    }

    @AfterEach
    void stopReplicas() {
        if (replicas != null) {
            replicas.forEach(WebServer::stop);
        }
    }

    private record Sent(String id, String value, int replica) {
    }

    private record Answer(Sent sent, Status status, String body) {
    }

    @Test
    void bothReplicasAreReadyWithTheirDatabase() {
        for (WebClient client : clients) {
            var ready = client.get("/observe/health/ready").request(String.class);
            assertThat(ready.status(), is(Status.OK_200));
            assertThat(ready.entity(), containsString("\"database\""));
        }
    }

    @Test
    void sameInvoicePaidThroughBothReplicasAtOnceIsChargedOnce() throws Exception {
        List<Sent> sends = new ArrayList<>();
        for (int id = 0; id < IDS; id++) {
            for (int replica = 0; replica < 2; replica++) {
                for (int n = 0; n < REQUESTS_PER_REPLICA_AND_ID; n++) {
                    sends.add(new Sent("T" + id, "10.50", replica));
                }
            }
        }
        double recordedBefore = recordedCount();

        List<Answer> answers = sendAllAtOnce(sends);

        for (Answer answer : answers) {
            assertThat(answer.sent().toString(), answer.status(), is(Status.OK_200));
            assertThat(answer.body(), is("{\"id\":\"" + answer.sent().id() + "\"}"));
        }
        // All of them answered alike; the outcome counter tells the one charge per id from the replays.
        assertThat(recordedCount() - recordedBefore, is((double) IDS));
        Map<String, String> rows = rowsById();
        assertThat(rows.size(), is(IDS));
        for (int id = 0; id < IDS; id++) {
            assertThat(rows.get("T" + id), is("10.50 EUR"));
        }
    }

    @Test
    void differentAmountsForOneInvoiceThroughBothReplicasKeepOneAndRefuseTheOther() throws Exception {
        List<Sent> sends = new ArrayList<>();
        for (int id = 0; id < IDS; id++) {
            for (int n = 0; n < REQUESTS_PER_REPLICA_AND_ID; n++) {
                sends.add(new Sent("U" + id, "1.00", 0));
                sends.add(new Sent("U" + id, "2.00", 1));
            }
        }
        double recordedBefore = recordedCount();

        List<Answer> answers = sendAllAtOnce(sends);

        Map<String, String> rows = rowsById();
        assertThat(rows.size(), is(IDS));
        assertThat(recordedCount() - recordedBefore, is((double) IDS));
        for (Answer answer : answers) {
            String kept = rows.get(answer.sent().id());
            boolean sameAsKept = kept.equals(answer.sent().value() + " EUR");
            assertThat(answer.sent() + " with " + kept + " kept", answer.status(),
                    is(sameAsKept ? Status.OK_200 : Status.CONFLICT_409));
        }
    }

    private List<Answer> sendAllAtOnce(List<Sent> sends) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Answer>> futures = new ArrayList<>();
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Sent sent : sends) {
                futures.add(executor.submit(() -> {
                    go.await();
                    var response = clients.get(sent.replica()).post("/payments/pay")
                            .submit("{\"id\":\"" + sent.id() + "\",\"value\":" + sent.value()
                                    + ",\"currency\":\"EUR\"}", String.class);
                    return new Answer(sent, response.status(), response.entity());
                }));
            }
            go.countDown();
            List<Answer> answers = new ArrayList<>();
            for (Future<Answer> future : futures) {
                answers.add(future.get(60, TimeUnit.SECONDS));
            }
            return answers;
        }
    }

    /** "amount currency" per invoice id, straight from the table. */
    private Map<String, String> rowsById() throws SQLException {
        Map<String, String> rows = new HashMap<>();
        try (Connection connection = database.getConnection();
             Statement statement = connection.createStatement();
             ResultSet result = statement.executeQuery(
                     "SELECT invoice_id, amount, currency FROM payments")) {
            while (result.next()) {
                BigDecimal amount = result.getBigDecimal(2);
                rows.put(result.getString(1), amount.toPlainString() + " " + result.getString(3));
            }
        }
        return rows;
    }

    /**
     * The recorded-payments counter as a replica publishes it. Both replicas run in this JVM and so
     * share one registry: the figure is the sum over both, which is what the test compares.
     */
    private double recordedCount() {
        String metrics = clients.getFirst().get("/observe/metrics").request(String.class).entity();
        Matcher counter = RECORDED_COUNTER.matcher(metrics);
        return counter.find() ? Double.parseDouble(counter.group(1)) : 0;
    }
}
