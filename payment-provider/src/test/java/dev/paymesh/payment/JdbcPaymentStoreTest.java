package dev.paymesh.payment;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Currency;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.paymesh.support.Database;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The store contract for the PostgreSQL store, on a real server with the real migrations, with two
 * writers so that the contract's races go through batches; and what group commit adds to it.
 */
class JdbcPaymentStoreTest extends PaymentStoreContract {

    private static final Currency EUR = Currency.getInstance("EUR");

    private static Database database;

    @BeforeAll
    static void openDatabase() {
        database = TestPostgres.open(TestPostgres.newDatabase());
    }

    @AfterAll
    static void closeDatabase() {
        database.close();
    }

    @Override
    PaymentStore emptyStore() {
        return emptyStore(2);
    }

    private static JdbcPaymentStore emptyStore(int writers) {
        TestPostgres.execute(database.dataSource(), "TRUNCATE payments");
        return new JdbcPaymentStore(database.dataSource(), writers);
    }

    /** An empty store with a single writer, so that a writer held on a lock holds every payment. */
    private static JdbcPaymentStore oneWriterStore() {
        return emptyStore(1);
    }

    @Test
    void paymentsQueuedBehindABusyWriterAreCommittedByOneStatement() throws Exception {
        JdbcPaymentStore store = oneWriterStore();
        int queued = 40;
        List<Future<PaymentStore.Outcome>> outcomes = new ArrayList<>();
        try (Connection blocker = database.dataSource().getConnection();
                ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<PaymentStore.Outcome> blocked = holdTheWriter(store, blocker, callers, "W0");
            for (int i = 1; i <= queued; i++) {
                String id = "W" + i;
                outcomes.add(callers.submit(() -> store.record(payment(id, "1.50"))));
            }
            awaitQueued(store, queued);
            blocker.rollback();
            assertThat(blocked.get(10, TimeUnit.SECONDS), is(PaymentStore.Outcome.RECORDED));
            for (Future<PaymentStore.Outcome> outcome : outcomes) {
                assertThat(outcome.get(10, TimeUnit.SECONDS), is(PaymentStore.Outcome.RECORDED));
            }
        }
        // Rows inserted by one statement carry the one transaction id that committed them.
        assertThat(single("SELECT count(DISTINCT xmin::text) || '/' || count(*) FROM payments WHERE invoice_id <> 'W0'"),
                is("1/" + queued));
    }

    @Test
    void aPaymentTheTableRefusesFailsAloneAndTheRestOfItsBatchIsRecorded() throws Exception {
        JdbcPaymentStore store = oneWriterStore();
        List<Future<PaymentStore.Outcome>> outcomes = new ArrayList<>();
        Future<PaymentStore.Outcome> refused;
        try (Connection blocker = database.dataSource().getConnection();
                ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            holdTheWriter(store, blocker, callers, "X0");
            outcomes.add(callers.submit(() -> store.record(payment("X1", "1.00"))));
            // A negative amount passes no request parser; the table's own check refuses it.
            refused = callers.submit(() -> store.record(payment("X2", "-1.00")));
            outcomes.add(callers.submit(() -> store.record(payment("X3", "1.00"))));
            awaitQueued(store, 3);
            blocker.commit();
            for (Future<PaymentStore.Outcome> outcome : outcomes) {
                assertThat(outcome.get(10, TimeUnit.SECONDS), is(PaymentStore.Outcome.RECORDED));
            }
            Exception failure = assertThrows(Exception.class, () -> refused.get(10, TimeUnit.SECONDS));
            assertThat(failure.getCause().getMessage(), startsWith("could not record payment X2"));
        }
        assertThat(single("SELECT string_agg(invoice_id, ',' ORDER BY invoice_id) FROM payments"), is("X0,X1,X3"));
    }

    @Test
    void theSameIdTwiceInOneBatchIsRecordedOnceThenComparedWithWhatWasKept() throws Exception {
        JdbcPaymentStore store = oneWriterStore();
        try (Connection blocker = database.dataSource().getConnection();
                ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            holdTheWriter(store, blocker, callers, "Y0");
            Future<PaymentStore.Outcome> first = callers.submit(() -> store.record(payment("Y1", "2.00")));
            awaitQueued(store, 1);
            Future<PaymentStore.Outcome> same = callers.submit(() -> store.record(payment("Y1", "2.00")));
            awaitQueued(store, 2);
            Future<PaymentStore.Outcome> other = callers.submit(() -> store.record(payment("Y1", "9.00")));
            awaitQueued(store, 3);
            blocker.rollback();
            assertThat(first.get(10, TimeUnit.SECONDS), is(PaymentStore.Outcome.RECORDED));
            assertThat(same.get(10, TimeUnit.SECONDS), is(PaymentStore.Outcome.ALREADY_RECORDED));
            assertThat(other.get(10, TimeUnit.SECONDS), is(PaymentStore.Outcome.CONFLICT));
        }
        assertThat(single("SELECT amount::text FROM payments WHERE invoice_id = 'Y1'"), is("2.00"));
    }

    @Test
    void aLaterPaymentOfAnIdInOneListWaitsForTheFirstWhicheverWriterHoldsIt() throws Exception {
        JdbcPaymentStore store = emptyStore(2);
        // More than one statement's worth: the first of each K id shares a statement with H0, which
        // the blocker holds; the second of each comes after MAX_BATCH others, where a free writer
        // would take it while the first still waits.
        List<Payment> payments = new ArrayList<>(List.of(payment("H0", "3.00")));
        int repeated = 10;
        for (int i = 1; i <= repeated; i++) {
            payments.add(payment("K" + i, "2.00"));
        }
        for (int i = 1; i <= JdbcPaymentStore.MAX_BATCH; i++) {
            payments.add(payment("F" + i, "1.00"));
        }
        for (int i = 1; i <= repeated; i++) {
            payments.add(payment("K" + i, "9.00"));
        }
        try (Connection blocker = database.dataSource().getConnection();
                ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            blocker.setAutoCommit(false);
            insert(blocker, "H0", "3.00");
            Future<List<PaymentStore.Recorded>> recorded = callers.submit(() -> store.recordAll(payments));
            // One writer waits on H0 and the other has committed what it took.
            await(() -> writerWaitsOnALock() && !single("SELECT count(*) FROM payments").equals("0"),
                    () -> "no writer waits on H0 beside a committed statement");
            blocker.rollback();
            List<PaymentStore.Recorded> outcomes = recorded.get(10, TimeUnit.SECONDS);
            for (int i = 1; i <= repeated; i++) {
                assertThat("first K" + i, outcomes.get(i).outcome(), is(PaymentStore.Outcome.RECORDED));
                assertThat("second K" + i, outcomes.get(payments.size() - repeated - 1 + i).outcome(),
                        is(PaymentStore.Outcome.CONFLICT));
            }
        }
        assertThat(single("SELECT string_agg(DISTINCT amount::text, ',') FROM payments WHERE invoice_id LIKE 'K%'"),
                is("2.00"));
    }

    @Test
    void writersAreHalfThePoolAndAtLeastOne() {
        assertThat(JdbcPaymentStore.writersFor(10), is(5));
        assertThat(JdbcPaymentStore.writersFor(1), is(1));
        assertThrows(IllegalArgumentException.class, () -> new JdbcPaymentStore(database.dataSource(), 0));
    }

    /**
     * Holds the store's one writer: {@code blocker} inserts {@code id} and does not commit, then the
     * store is asked to record the same id, and its writer waits for the blocker's transaction.
     */
    private static Future<PaymentStore.Outcome> holdTheWriter(JdbcPaymentStore store, Connection blocker,
                                                              ExecutorService callers, String id) throws Exception {
        blocker.setAutoCommit(false);
        insert(blocker, id, "3.00");
        Future<PaymentStore.Outcome> held = callers.submit(() -> store.record(payment(id, "3.00")));
        awaitQueued(store, 0);
        return held;
    }

    private static Payment payment(String id, String value) {
        return new Payment(id, new BigDecimal(value), EUR);
    }

    private static void insert(Connection connection, String id, String amount) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(
                "INSERT INTO payments (invoice_id, amount, currency) VALUES (?, ?::numeric, 'EUR')")) {
            statement.setString(1, id);
            statement.setString(2, amount);
            statement.executeUpdate();
        }
    }

    /** Waits until exactly {@code count} payments wait for a writer, the writer itself being busy. */
    private static void awaitQueued(JdbcPaymentStore store, int count) throws InterruptedException {
        // The first payment is taken by the writer at once, so 0 queued means it has been taken.
        await(() -> store.queuedPayments() == count && (count != 0 || writerWaitsOnALock()),
                () -> "expected " + count + " queued payments, have " + store.queuedPayments());
    }

    /** Waits up to 10 s for the condition, else fails with the message. */
    private static void await(BooleanSupplier condition, Supplier<String> failure) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(failure.get());
            }
            Thread.sleep(5);
        }
    }

    /** Whether some statement on the database waits for a lock: the writer, blocked on the held id. */
    private static boolean writerWaitsOnALock() {
        return !single("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
                .equals("0");
    }

    private static String single(String sql) {
        try (Connection connection = database.dataSource().getConnection();
                PreparedStatement statement = connection.prepareStatement(sql);
                ResultSet row = statement.executeQuery()) {
            row.next();
            return row.getString(1);
        } catch (SQLException e) {
            throw new IllegalStateException(sql, e);
        }
    }
}
