package dev.paymesh.invoice;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.stream.Stream;

import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsInAnyOrder;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.lessThanOrEqualTo;
import static org.hamcrest.Matchers.startsWith;

/**
 * The database goes away under a running replica and comes back on the same port with the same
 * data: the replica stops taking traffic but stays alive, answers a clear 503, applies nothing
 * half-way, and recovers on its own.
 */
class DatabaseOutageTest {

    private static final String READY = "/observe/health/ready";
    private static final String LIVE = "/observe/health/live";
    private static final String DOWN_ERROR = "{\"error\":\"the invoice database is unavailable; try again later\"}";

    private static Path dataDirectory;
    private static int port;
    private static EmbeddedPostgres postgres;

    private WebServer replica;
    private FakePaymentProvider provider;

    @BeforeAll
    static void startDatabase() throws IOException {
        dataDirectory = Path.of("target", "pg-outage-" + UUID.randomUUID()).toAbsolutePath();
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        startPostgres();
    }

    private static void startPostgres() {
        postgres = TestPostgres.start(EmbeddedPostgres.builder()
                .setDataDirectory(dataDirectory)
                .setCleanDataDirectory(false)
                .setPort(port));
    }

    private static void stopPostgres() {
        try {
            postgres.close();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @AfterAll
    static void removeDatabase() throws IOException {
        stopPostgres();
        try (Stream<Path> files = Files.walk(dataDirectory)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
    }

    @AfterEach
    void stopReplica() {
        if (replica != null) {
            replica.stop();
        }
        if (provider != null) {
            provider.close();
        }
    }

    private static String newDatabase() throws SQLException {
        String name = "outage_" + UUID.randomUUID().toString().replace("-", "");
        try (Connection connection = postgres.getPostgresDatabase().getConnection();
             Statement statement = connection.createStatement()) {
            statement.execute("CREATE DATABASE " + name + " OWNER " + TestPostgres.USER);
        }
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + name;
    }

    private WebClient startReplica(String url, Map<String, String> config) {
        provider = new FakePaymentProvider();
        replica = TestApps.start(url, provider.url(), config);
        return TestApps.client(replica);
    }

    /** Polls until the endpoint answers the status, for at most the time given. */
    private static String awaitStatus(WebClient client, String path, Status wanted, Duration atMost)
            throws InterruptedException {
        long deadline = System.nanoTime() + atMost.toNanos();
        while (true) {
            var response = client.get(path).request(String.class);
            if (response.status() == wanted) {
                return response.entity();
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(path + " still answers " + response.status() + ": " + response.entity());
            }
            Thread.sleep(100);
        }
    }

    /** Each invoice's state and claim as the database holds them. */
    private static List<String> rows(String url) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Connection connection = TestPostgres.superuser(url).getConnection();
             Statement statement = connection.createStatement();
             ResultSet result = statement.executeQuery("SELECT id, state, outcome_unknown, claimed_by IS NOT NULL"
                     + " FROM invoice ORDER BY id")) {
            while (result.next()) {
                rows.add(result.getString(1) + " " + result.getString(2) + " unknown=" + result.getBoolean(3)
                        + " claimed=" + result.getBoolean(4));
            }
        }
        return rows;
    }

    @Test
    void whileTheDatabaseIsAwayTheReplicaIsAliveButNotReadyAndAnswers503() throws Exception {
        String url = newDatabase();
        WebClient client = startReplica(url, Map.of());
        assertThat(awaitStatus(client, READY, Status.OK_200, Duration.ofSeconds(5)),
                containsString("{\"name\":\"database\",\"status\":\"UP\"}"));

        stopPostgres();

        String notReady = awaitStatus(client, READY, Status.SERVICE_UNAVAILABLE_503, Duration.ofSeconds(10));
        assertThat(notReady, containsString("\"name\":\"database\",\"status\":\"DOWN\""));
        assertThat(client.get(LIVE).request(String.class).status(), is(Status.OK_200));
        long started = System.nanoTime();
        for (var response : List.of(
                client.get("/invoices").request(String.class),
                client.get("/invoices/I1").request(String.class),
                client.post("/invoices").submit("{\"InvoiceId\":\"OUT1\",\"Value\":5,\"Currency\":\"EUR\"}", String.class),
                TestApps.pay(client))) {
            assertThat(response.status(), is(Status.SERVICE_UNAVAILABLE_503));
            assertThat(response.entity(), is(DOWN_ERROR));
        }
        assertThat("four requests answered within their connection timeouts",
                Duration.ofNanos(System.nanoTime() - started), lessThan(Duration.ofSeconds(8)));
        assertThat(client.get(LIVE).request(String.class).status(), is(Status.OK_200));
        assertThat(provider.allPosts().size(), is(0));

        startPostgres();

        awaitStatus(client, READY, Status.OK_200, Duration.ofSeconds(15));
        assertThat("the create that failed left nothing", client.get("/invoices/OUT1").request(String.class).status(),
                is(Status.NOT_FOUND_404));
        assertThat("the pay run that failed claimed nothing", rows(url), is(List.of(
                "I1 UNPAID unknown=false claimed=false",
                "I2 UNPAID unknown=false claimed=false",
                "I3 UNPAID unknown=false claimed=false")));
        var paid = TestApps.pay(client);
        assertThat(paid.entity(), paid.status(), is(Status.OK_200));
        assertThat(paid.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\"],\"failed\":[]}"));
        assertThat(TestApps.create(client, "BACK1", "5"), is(Status.CREATED_201));
    }

    @Test
    void anOutageIsLoggedWhenItBeginsAndWhenItEndsNotOncePerRequest() throws Exception {
        String url = newDatabase();
        WebClient client = startReplica(url, Map.of());
        awaitStatus(client, READY, Status.OK_200, Duration.ofSeconds(5));
        int requests = 12;
        long outageStarted;
        long outageEnded;
        List<String> warnings;
        List<String> paymeshLines;
        try (CapturedLog log = CapturedLog.open()) {
            stopPostgres();
            outageStarted = System.nanoTime();
            // HikariCP hands out a connection used in the last 500 ms without asking the database
            // (its alive-bypass window), so a request in the first half second of an outage can fail
            // on its statement rather than on the borrow the outage log watches. Past that window
            // every borrow is checked, and every failed request must be counted.
            Thread.sleep(Duration.ofMillis(600));
            for (int i = 0; i < requests; i++) {
                var response = i % 2 == 0 ? client.get("/invoices/I1").request(String.class) : TestApps.pay(client);
                assertThat(response.status(), is(Status.SERVICE_UNAVAILABLE_503));
            }
            startPostgres();
            outageEnded = System.nanoTime();
            awaitStatus(client, READY, Status.OK_200, Duration.ofSeconds(15));
            assertThat(client.get("/invoices/I1").request(String.class).status(), is(Status.OK_200));
            warnings = log.records("dev.paymesh", Level.WARNING).stream().map(log::message).toList();
            paymeshLines = log.records("dev.paymesh.support", Level.INFO).stream().map(log::message).toList();
            assertThat("every request is in the access log", log.records("dev.paymesh.access", Level.INFO).stream()
                    .map(log::message).filter(line -> line.contains(" 503 ") && !line.contains(" /observe/")).count(),
                    is((long) requests));
        }
        assertThat(warnings.getFirst(), startsWith("the invoice database is unavailable ("));
        // At most one count per interval after the first line; the outage here lasts well under a minute.
        long intervals = Duration.ofNanos(outageEnded - outageStarted).dividedBy(Duration.ofSeconds(30));
        assertThat(warnings.toString(), (long) warnings.size(), is(lessThanOrEqualTo(1 + intervals)));
        for (String later : warnings.subList(1, warnings.size())) {
            assertThat(later, startsWith("the invoice database is still unavailable, for "));
        }
        List<String> back = paymeshLines.stream().filter(line -> line.contains(" is back after ")).toList();
        assertThat(paymeshLines.toString(), back.size(), is(1));
        var backLine = java.util.regex.Pattern.compile("the invoice database is back after \\d+ s; (\\d+) attempts to"
                + " reach it failed meanwhile").matcher(back.getFirst());
        assertThat(back.getFirst(), backLine.matches(), is(true));
        long failedAttempts = Long.parseLong(backLine.group(1));
        assertThat("the requests that failed are counted", failedAttempts, is(greaterThanOrEqualTo((long) requests)));
    }

    @Test
    void aPayRunCutOffByTheOutageLeavesItsInvoicesToBeCheckedNotStuck() throws Exception {
        String url = newDatabase();
        // One payment at a time, and a lease of a second so the test need not wait long for it.
        WebClient client = startReplica(url, Map.of("payment.max-in-flight", "1", "payment.claim-lease-seconds", "1"));
        awaitStatus(client, READY, Status.OK_200, Duration.ofSeconds(5));
        AtomicBoolean cut = new AtomicBoolean();
        // The first payment reaches the provider, then the database goes away before it is recorded.
        provider.beforeAnswer(id -> {
            if (cut.compareAndSet(false, true)) {
                stopPostgres();
            }
        });

        var cutOff = TestApps.pay(client);

        assertThat(cutOff.status(), is(Status.SERVICE_UNAVAILABLE_503));
        assertThat(cutOff.entity(), containsString("{\"InvoiceId\":\"I1\",\"error\":\"paid at payment-provider, but the"
                + " invoice database is unavailable"));
        assertThat(cutOff.entity(), containsString("{\"InvoiceId\":\"I2\",\"error\":\"the invoice database is unavailable"));
        assertThat(provider.posts("I1"), is(1));
        assertThat(provider.posts("I2"), is(0));
        assertThat(client.get(LIVE).request(String.class).status(), is(Status.OK_200));

        startPostgres();
        awaitStatus(client, READY, Status.OK_200, Duration.ofSeconds(15));
        // Claimed by the run that was cut off, each marked as possibly paid by the claim itself.
        assertThat(rows(url), is(List.of(
                "I1 PAYING unknown=true claimed=true",
                "I2 PAYING unknown=true claimed=true",
                "I3 PAYING unknown=true claimed=true")));

        // Once the lease has run out a new run takes them over, asks about I1, and sends it no second time.
        List<String> paid = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (paid.size() < 3 && System.nanoTime() < deadline) {
            var run = TestApps.pay(client);
            assertThat(run.entity(), run.status(), is(Status.OK_200));
            paid.addAll(TestApps.paidIds(run.entity()));
            Thread.sleep(200);
        }
        // Several runs may share the work (one whose lease check came a moment early pays fewer), so
        // the order across runs is not fixed; each invoice must be reported paid exactly once.
        assertThat(paid, containsInAnyOrder("I1", "I2", "I3"));
        assertThat(provider.posts("I1"), is(1));
        assertThat(provider.lookups("I1"), is(1));
        // I2 was never sent: its lookup finds nothing, so it is sent once.
        assertThat(provider.posts("I2"), is(1));
        assertThat(provider.lookups("I2"), is(1));
        assertThat(rows(url), is(List.of(
                "I1 PAID unknown=false claimed=true",
                "I2 PAID unknown=false claimed=true",
                "I3 PAID unknown=false claimed=true")));
    }
}
