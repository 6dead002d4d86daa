package dev.paymesh.invoice;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.paymesh.support.Database;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.is;

/**
 * Several invoice-app replicas over one PostgreSQL, paying through one payment side that counts the
 * calls per invoice: no invoice is sent twice, none is left unpaid, none is lost, also when a replica
 * dies in the middle of a run.
 */
class ConcurrentPayAcrossReplicasTest {

    private final List<WebServer> replicas = new ArrayList<>();
    private FakePaymentProvider provider;

    @AfterEach
    void stopAll() {
        replicas.forEach(WebServer::stop);
        if (provider != null) {
            provider.close();
        }
    }

    private List<WebClient> startReplicas(int count, String dbUrl, Map<String, String> config) {
        List<WebClient> clients = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            WebServer replica = TestApps.start(dbUrl, provider.url(), config);
            replicas.add(replica);
            clients.add(TestApps.client(replica));
        }
        return clients;
    }

    @Test
    void replicasPayingWhileInvoicesArriveSendEachInvoiceOnce() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        provider = new FakePaymentProvider();
        provider.maxDelay(Duration.ofMillis(3));
        List<WebClient> clients = startReplicas(3, database.url(), Map.of());
        int created = 200;

        List<String> paid = Collections.synchronizedList(new ArrayList<>());
        Set<Integer> replicasThatPaid = ConcurrentHashMap.newKeySet();
        List<Status> statuses = Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean creating = new AtomicBoolean(true);
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> payers = new ArrayList<>();
            for (int p = 0; p < 6; p++) {
                int replica = p % clients.size();
                payers.add(executor.submit(() -> {
                    // Keep paying until creation is over, then once more to take the last ones.
                    boolean last = false;
                    while (!last) {
                        last = !creating.get();
                        var response = TestApps.pay(clients.get(replica));
                        statuses.add(response.status());
                        List<String> ids = TestApps.paidIds(response.entity());
                        if (!ids.isEmpty()) {
                            replicasThatPaid.add(replica);
                        }
                        paid.addAll(ids);
                    }
                    return null;
                }));
            }
            for (int i = 0; i < created; i++) {
                assertThat(TestApps.create(clients.get(i % clients.size()), "C" + i, "1.00"), is(Status.CREATED_201));
            }
            creating.set(false);
            for (Future<?> payer : payers) {
                payer.get();
            }
        }

        int all = created + 3;
        assertThat(statuses.toString(), statuses.stream().allMatch(status -> status == Status.OK_200), is(true));
        assertThat("an invoice was reported paid twice", new HashSet<>(paid).size(), is(paid.size()));
        assertThat("an invoice was never paid", paid.size(), is(all));
        assertThat(database.invoiceStates(), is(Map.of("PAID", all)));
        assertThat(provider.allPosts().size(), is(all));
        provider.allPosts().forEach((id, posts) -> assertThat(id + " posted", posts.get(), is(1)));
        assertThat("the replicas shared the work", replicasThatPaid.size(), greaterThanOrEqualTo(2));

        replicas.forEach(WebServer::stop);
        replicas.clear();
        assertThat("stopped replicas keep no connection", connectionsOfTheService(database), is(0));
    }

    /** Connections the service holds to the database, once the server had a moment to close them. */
    private static int connectionsOfTheService(TestPostgres.Database database) throws Exception {
        int connections = -1;
        for (int attempt = 0; attempt < 50 && connections != 0; attempt++) {
            try (Connection connection = database.admin().getConnection();
                 Statement statement = connection.createStatement();
                 ResultSet rows = statement.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '"
                         + database.name() + "' AND application_name = 'invoice-app'")) {
                rows.next();
                connections = rows.getInt(1);
            }
            if (connections != 0) {
                Thread.sleep(100);
            }
        }
        return connections;
    }

    @Test
    void aReplicaThatDiedMidRunLeavesNothingStuckAndNothingPaidTwice() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        provider = new FakePaymentProvider();
        // A lease no test run outlives: a claim expires only when the test ages it below.
        Duration lease = Duration.ofHours(1);

        // The replica that dies: it claimed everything, began paying D0-D9, and D0-D4 reached the
        // provider, but it never heard back nor wrote anything more.
        try (Database dying = JdbcInvoiceStoreTest.open(database.url())) {
            JdbcInvoiceStore store = new JdbcInvoiceStore(dying.dataSource(), lease);
            for (int i = 0; i < 20; i++) {
                store.create(InvoiceStoreContract.invoice("D" + i, "2.50", "EUR"));
            }
            assertThat(store.claimUnpaid("dead-replica/run").size(), is(23));
            for (int i = 0; i < 10; i++) {
                assertThat(store.startPayment("D" + i, "dead-replica/run"), is(true));
            }
            for (int i = 0; i < 5; i++) {
                provider.recordWithoutAnswer("D" + i);
            }
        }
        List<WebClient> clients = startReplicas(2, database.url(),
                Map.of("payment.claim-lease-seconds", Long.toString(lease.toSeconds())));

        var early = TestApps.pay(clients.getFirst());
        assertThat("a live claim is left alone", early.entity(), is("{\"paid\":[],\"failed\":[]}"));
        assertThat(provider.allPosts().keySet(), is(Set.of("D0", "D1", "D2", "D3", "D4")));

        // The dead replica's lease runs out: its claims become older than the lease, by the
        // database clock the replicas compare them with.
        try (Connection connection = database.admin().getConnection();
             Statement statement = connection.createStatement()) {
            assertThat(statement.executeUpdate("UPDATE invoice SET claimed_at = claimed_at - interval '2 hours'"
                    + " WHERE claimed_by = 'dead-replica/run'"), is(23));
        }

        List<String> paid = new ArrayList<>();
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            var first = executor.submit(() -> TestApps.pay(clients.get(0)));
            var second = executor.submit(() -> TestApps.pay(clients.get(1)));
            for (var response : List.of(first.get(), second.get())) {
                assertThat(response.entity(), response.status(), is(Status.OK_200));
                paid.addAll(TestApps.paidIds(response.entity()));
            }
        }

        assertThat("an invoice was reported paid twice", new HashSet<>(paid).size(), is(paid.size()));
        assertThat(paid.size(), is(23));
        assertThat(database.invoiceStates(), is(Map.of("PAID", 23)));
        for (int i = 0; i < 20; i++) {
            String id = "D" + i;
            assertThat(id + " sent", provider.posts(id), is(1));
            // The dead run may have sent a payment for anything it claimed: each is looked up first,
            // and what it did send (D0-D4) is recorded as paid without being sent again.
            assertThat(id + " looked up", provider.lookups(id), is(1));
        }
        for (String id : List.of("I1", "I2", "I3")) {
            assertThat(id + " sent", provider.posts(id), is(1));
            assertThat(id + " looked up", provider.lookups(id), is(1));
        }
    }

    @Test
    void aReplicaStoppedDuringARunFinishesItBeforeClosingItsPool() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        provider = new FakePaymentProvider();
        CountDownLatch paying = new CountDownLatch(1);
        provider.beforeAnswer(id -> {
            paying.countDown();
            try {
                Thread.sleep(150);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        WebServer replica = TestApps.start(database.url(), provider.url(), Map.of("payment.max-in-flight", "1"));
        WebClient client = TestApps.client(replica);

        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            var run = executor.submit(() -> TestApps.pay(client));
            assertThat("the run began paying", paying.await(10, TimeUnit.SECONDS), is(true));
            // What a SIGTERM does, through Helidon's shutdown hook, during a rolling update.
            replica.stop();
            var response = run.get();
            assertThat(response.entity(), response.status(), is(Status.OK_200));
            assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\"],\"failed\":[]}"));
        }
        assertThat(database.invoiceStates(), is(Map.of("PAID", 3)));
        assertThat(connectionsOfTheService(database), is(0));
    }
}
