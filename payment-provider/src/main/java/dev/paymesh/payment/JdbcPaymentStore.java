package dev.paymesh.payment;

import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Currency;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;

import javax.sql.DataSource;

import dev.paymesh.support.StoreUnavailableException;

/**
 * Payments in a PostgreSQL table whose primary key is the invoice id, so that every replica sharing
 * the database records a payment at most once.
 *
 * <p>Payments arriving together are inserted together (group commit). Each request joins a queue and
 * waits; a few writers each take what is queued, up to {@value #MAX_BATCH} payments, and insert them
 * with one statement, so one commit and one flush of the write-ahead log answer all of them. A
 * request is answered only once the statement holding its payment has committed, so a 2xx still
 * means the payment is recorded. A statement either committed whole or did nothing: there is no
 * partly recorded payment. When nothing else is queued a payment is a batch of one, as before.
 */
public final class JdbcPaymentStore implements PaymentStore {

    /** The most payments one statement inserts. */
    static final int MAX_BATCH = 128;

    // ON CONFLICT DO NOTHING waits for a concurrent insert of the same id to commit or roll back,
    // so exactly one of any number of racing inserts gets a row back. The rows go in the order of
    // the arrays, which are sorted by id: two statements taking the same ids take their locks in
    // the same order and cannot deadlock.
    private static final String INSERT = """
            INSERT INTO payments (invoice_id, amount, currency)
            SELECT * FROM unnest(?::text[], ?::numeric[], ?::text[])
            ON CONFLICT (invoice_id) DO NOTHING
            RETURNING invoice_id""";

    private static final String SELECT = "SELECT amount, currency FROM payments WHERE invoice_id = ?";

    private static final String SELECT_MANY =
            "SELECT invoice_id, amount, currency FROM payments WHERE invoice_id = ANY (?::text[])";

    private final DataSource dataSource;
    private final int maxWriters;
    private final ConcurrentLinkedQueue<Pending> queued = new ConcurrentLinkedQueue<>();
    private final AtomicInteger writers = new AtomicInteger();

    /**
     * @param dataSource where the table is
     * @param maxWriters the most statements inserting at once, each on its own connection; the
     *                   pool's other connections stay free for look-ups and readiness
     */
    public JdbcPaymentStore(DataSource dataSource, int maxWriters) {
        if (maxWriters < 1) {
            throw new IllegalArgumentException("maxWriters must be at least 1, was " + maxWriters);
        }
        this.dataSource = dataSource;
        this.maxWriters = maxWriters;
    }

    /** How many payments wait for a writer; for tests. */
    int queuedPayments() {
        return queued.size();
    }

    /** Half of a pool of {@code poolSize} connections insert, at least one. */
    static int writersFor(int poolSize) {
        return Math.max(1, poolSize / 2);
    }

    @Override
    public Outcome record(Payment payment) {
        Pending pending = new Pending(payment);
        queued.add(pending);
        startWriterIfFree();
        return pending.await();
    }

    /**
     * Queues the payments together, so that they share statements with each other (and with what
     * else is queued), and starts as many writers as they fill statements, within the limit. Writers
     * run side by side, so a later payment of an id already in the list is queued only once the
     * earlier one is decided: the first of an id in the list is the one recorded, as in the
     * in-memory store.
     */
    @Override
    public List<Recorded> recordAll(List<Payment> payments) {
        Recorded[] recorded = new Recorded[payments.size()];
        Map<String, Integer> seen = new HashMap<>();
        List<List<Integer>> rounds = new ArrayList<>();
        for (int i = 0; i < payments.size(); i++) {
            int round = seen.merge(payments.get(i).id(), 1, Integer::sum) - 1;
            if (round == rounds.size()) {
                rounds.add(new ArrayList<>());
            }
            rounds.get(round).add(i);
        }
        for (List<Integer> round : rounds) {
            List<Pending> pending = new ArrayList<>(round.size());
            for (int index : round) {
                pending.add(new Pending(payments.get(index)));
            }
            queued.addAll(pending);
            for (int queuedHere = 0; queuedHere < pending.size(); queuedHere += MAX_BATCH) {
                startWriterIfFree();
            }
            for (int i = 0; i < pending.size(); i++) {
                Recorded one;
                try {
                    one = new Recorded(pending.get(i).await(), null);
                } catch (RuntimeException e) {
                    one = new Recorded(null, e);
                }
                recorded[round.get(i)] = one;
            }
        }
        return List.of(recorded);
    }

    @Override
    public Optional<Payment> find(String id) {
        try (Connection connection = dataSource.getConnection()) {
            return select(connection, id);
        } catch (SQLException e) {
            throw failure("look up payment " + id, e);
        }
    }

    /**
     * Starts a writer unless all are busy; a busy writer takes what is queued before it stops. The
     * queue is filled before the count is read here, and a writer lowers the count before it looks
     * at the queue a last time, so a payment is never left queued with no writer to take it.
     */
    private void startWriterIfFree() {
        for (int running = writers.get(); running < maxWriters; running = writers.get()) {
            if (writers.compareAndSet(running, running + 1)) {
                Thread.ofVirtual().name("payment-writer").start(this::writeWhileQueued);
                return;
            }
        }
    }

    private void writeWhileQueued() {
        try {
            List<Pending> batch = new ArrayList<>(MAX_BATCH);
            for (Pending next = queued.poll(); next != null; next = queued.poll()) {
                batch.add(next);
                while (batch.size() < MAX_BATCH && (next = queued.poll()) != null) {
                    batch.add(next);
                }
                writeAll(batch);
                batch.clear();
            }
        } finally {
            writers.decrementAndGet();
            if (!queued.isEmpty()) {
                startWriterIfFree();
            }
        }
    }

    /** Writes a batch; a second payment of an id already in it goes in a statement after it. */
    private void writeAll(List<Pending> batch) {
        List<Pending> rest = batch;
        while (!rest.isEmpty()) {
            Map<String, Pending> distinct = new LinkedHashMap<>();
            List<Pending> repeated = new ArrayList<>();
            for (Pending pending : rest) {
                if (distinct.putIfAbsent(pending.payment.id(), pending) != null) {
                    repeated.add(pending);
                }
            }
            write(new ArrayList<>(distinct.values()));
            rest = repeated;
        }
    }

    private void write(List<Pending> batch) {
        batch.sort(Comparator.comparing(pending -> pending.payment.id()));
        try (Connection connection = dataSource.getConnection()) {
            Set<String> inserted = insert(connection, batch);
            List<String> lost = new ArrayList<>();
            for (Pending pending : batch) {
                if (!inserted.contains(pending.payment.id())) {
                    lost.add(pending.payment.id());
                }
            }
            // The inserts that lost did so to rows committed by now. This is a new statement, so
            // under READ COMMITTED it sees those rows, which the insert's own snapshot may not have.
            Map<String, Payment> existing = lost.isEmpty() ? Map.of() : selectAll(connection, lost);
            for (Pending pending : batch) {
                pending.done(inserted.contains(pending.payment.id())
                        ? Outcome.RECORDED : compare(pending.payment, existing.get(pending.payment.id())));
            }
        } catch (SQLException e) {
            if (batch.size() > 1 && !isUnavailable(e)) {
                // Not the database going away but something one row may have caused: each payment
                // on its own, so no other payment of the batch fails with it.
                for (Pending pending : batch) {
                    write(new ArrayList<>(List.of(pending)));
                }
                return;
            }
            for (Pending pending : batch) {
                pending.failed(failure("record payment " + pending.payment.id(), e));
            }
        } catch (RuntimeException | Error e) {
            // A defect: each waiting request fails with it (a 500), rather than waiting forever.
            for (Pending pending : batch) {
                pending.failed(e);
            }
            if (e instanceof Error error) {
                throw error;
            }
        }
    }

    private static Outcome compare(Payment payment, Payment existing) {
        if (existing == null) {
            throw new IllegalStateException(
                    "payment " + payment.id() + " conflicted on insert but is not in the table; was it deleted?");
        }
        return existing.sameChargeAs(payment) ? Outcome.ALREADY_RECORDED : Outcome.CONFLICT;
    }

    private static Set<String> insert(Connection connection, List<Pending> batch) throws SQLException {
        String[] ids = new String[batch.size()];
        BigDecimal[] amounts = new BigDecimal[batch.size()];
        String[] currencies = new String[batch.size()];
        for (int i = 0; i < ids.length; i++) {
            Payment payment = batch.get(i).payment;
            ids[i] = payment.id();
            amounts[i] = payment.value();
            currencies[i] = payment.currency().getCurrencyCode();
        }
        try (PreparedStatement statement = connection.prepareStatement(INSERT)) {
            statement.setArray(1, connection.createArrayOf("text", ids));
            statement.setArray(2, connection.createArrayOf("numeric", amounts));
            statement.setArray(3, connection.createArrayOf("text", currencies));
            Set<String> inserted = new HashSet<>();
            try (ResultSet rows = statement.executeQuery()) {
                while (rows.next()) {
                    inserted.add(rows.getString(1));
                }
            }
            return inserted;
        }
    }

    private static Optional<Payment> select(Connection connection, String id) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(SELECT)) {
            statement.setString(1, id);
            try (ResultSet row = statement.executeQuery()) {
                if (!row.next()) {
                    return Optional.empty();
                }
                return Optional.of(payment(id, row));
            }
        }
    }

    private static Map<String, Payment> selectAll(Connection connection, List<String> ids) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(SELECT_MANY)) {
            Array array = connection.createArrayOf("text", ids.toArray(String[]::new));
            statement.setArray(1, array);
            Map<String, Payment> found = new HashMap<>();
            try (ResultSet rows = statement.executeQuery()) {
                while (rows.next()) {
                    String id = rows.getString("invoice_id");
                    found.put(id, payment(id, rows));
                }
            }
            return found;
        }
    }

    private static Payment payment(String id, ResultSet row) throws SQLException {
        BigDecimal amount = row.getBigDecimal("amount");
        Currency currency = Currency.getInstance(row.getString("currency"));
        return new Payment(id, amount, currency);
    }

    /**
     * A database that is down, restarting or out of connections is a reason to retry (503); any
     * other SQL error is a defect and surfaces as one (500).
     */
    private static RuntimeException failure(String action, SQLException e) {
        if (isUnavailable(e)) {
            return new StoreUnavailableException("payment database unavailable, could not " + action, e);
        }
        return new IllegalStateException("could not " + action, e);
    }

    static boolean isUnavailable(SQLException e) {
        if (e instanceof SQLTransientException || e instanceof SQLRecoverableException
                || e instanceof SQLNonTransientConnectionException) {
            return true;
        }
        String state = e.getSQLState();
        // 08: connection exception; 53: insufficient resources; 57P: the server is shutting down,
        // crashed or not yet accepting connections.
        return state != null && (state.startsWith("08") || state.startsWith("53") || state.startsWith("57P"));
    }

    /** One payment waiting in the queue, and what recording it did once a writer has. */
    private static final class Pending {

        private final Payment payment;
        private final CompletableFuture<Outcome> outcome = new CompletableFuture<>();

        Pending(Payment payment) {
            this.payment = payment;
        }

        void done(Outcome recorded) {
            outcome.complete(recorded);
        }

        void failed(Throwable failure) {
            outcome.completeExceptionally(failure);
        }

        /** The outcome, or the writer's failure thrown here, in the request's own thread. */
        Outcome await() {
            try {
                return outcome.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException runtime) {
                    throw rethrown(runtime);
                }
                if (e.getCause() instanceof Error error) {
                    throw error;
                }
                throw new IllegalStateException(e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while payment " + payment.id() + " was being recorded", e);
            }
        }

        /** The same kind of exception, with the request's stack, carrying the writer's as its cause. */
        private static RuntimeException rethrown(RuntimeException failure) {
            if (failure instanceof StoreUnavailableException) {
                return new StoreUnavailableException(failure.getMessage(), failure);
            }
            return new IllegalStateException(failure.getMessage(), failure);
        }
    }
}
