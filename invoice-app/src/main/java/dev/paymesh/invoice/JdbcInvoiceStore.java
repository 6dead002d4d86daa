package dev.paymesh.invoice;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Currency;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

import javax.sql.DataSource;

import dev.paymesh.support.StoreUnavailableException;

/**
 * Invoices in PostgreSQL, shared by every replica. Each method is one statement in its own
 * transaction; a claim is one UPDATE whose row locks keep concurrent runs apart, and a batch of
 * claims is renewed or settled by one UPDATE too.
 */
final class JdbcInvoiceStore implements InvoiceStore {

    private static final String COLUMNS = "id, amount, currency, state";

    // A batch of ids after the previous batch's last one, so a run passes over the invoices once and
    // never claims again what it released itself. Rows another transaction is claiming right now are
    // skipped, not waited for: that run takes them. The row lock also re-checks the WHERE on the
    // newest row version, so an invoice claimed and committed by another run meanwhile no longer
    // qualifies. The lease is compared with the database clock, the one clock every replica shares.
    // outcome_unknown is set as the claim is taken (a payment may be sent from now on); the value it
    // had before is what the run needs, so it comes from the locked rows.
    private static final String CLAIM = """
            WITH picked AS (
                SELECT id, outcome_unknown FROM invoice
                 WHERE id > ?
                   AND (state = 'UNPAID' OR (state = 'PAYING' AND claimed_at <= now() - make_interval(secs => ?)))
                 ORDER BY id
                 LIMIT ?
                   FOR UPDATE SKIP LOCKED)
            UPDATE invoice
               SET state = 'PAYING', claimed_by = ?, claimed_at = now(), outcome_unknown = TRUE
              FROM picked
             WHERE invoice.id = picked.id
            RETURNING invoice.id, invoice.amount, invoice.currency, invoice.state, picked.outcome_unknown""";

    // Renewing and settling find each invoice by its primary key; in a table of a few tens of
    // thousands or fewer one pass over it is cheaper, and the planner takes that. "Still PAYING
    // under this claim" is written as one CASE so that no partial index matches it: the statistics
    // never count PAYING rows (they exist only while a run pays), and with "state = 'PAYING'" the
    // planner read every PAYING row through such an index for each batch, 0.3-0.6 s for 256 once a
    // few thousand were claimed (bench/RESULTS.md; SettlePlanTest fails on that form).
    static final String RENEW = """
            UPDATE invoice SET claimed_at = now(), outcome_unknown = TRUE
              FROM unnest(?::text[]) AS renewed(id)
             WHERE invoice.id = renewed.id COLLATE "C" AND CASE WHEN state = 'PAYING' THEN claimed_by END = ?
            RETURNING invoice.id""";

    // A paid invoice keeps who claimed it and when, for the record; any other outcome clears the claim.
    static final String SETTLE = """
            UPDATE invoice
               SET state = CASE settled.outcome WHEN 'PAID' THEN 'PAID' WHEN 'REFUSED' THEN 'REFUSED' ELSE 'UNPAID' END,
                   paid_at = CASE settled.outcome WHEN 'PAID' THEN now() END,
                   claimed_by = CASE settled.outcome WHEN 'PAID' THEN claimed_by END,
                   claimed_at = CASE settled.outcome WHEN 'PAID' THEN claimed_at END,
                   outcome_unknown = settled.outcome = 'UNKNOWN'
              FROM unnest(?::text[], ?::text[]) AS settled(id, outcome)
             WHERE invoice.id = settled.id COLLATE "C" AND CASE WHEN state = 'PAYING' THEN claimed_by END = ?
            RETURNING invoice.id""";

    private final DataSource dataSource;
    private final Duration lease;

    JdbcInvoiceStore(DataSource dataSource, Duration lease) {
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.lease = Objects.requireNonNull(lease, "lease");
    }

    @Override
    public List<Invoice> list(Optional<Boolean> paid, Optional<String> after, int limit) {
        // The primary key's index, in the same "C" order, serves WHERE id > ? ORDER BY id LIMIT ?.
        String where = " WHERE id > ?" + paid.map(wanted -> wanted ? " AND state = 'PAID'" : " AND state <> 'PAID'").orElse("");
        return query("SELECT " + COLUMNS + " FROM invoice" + where + " ORDER BY id LIMIT ?", statement -> {
            statement.setString(1, after.orElse(""));
            statement.setInt(2, limit);
        });
    }

    @Override
    public Optional<Invoice> find(String id) {
        return query("SELECT " + COLUMNS + " FROM invoice WHERE id = ?", statement -> statement.setString(1, id))
                .stream().findFirst();
    }

    @Override
    public boolean create(Invoice invoice) {
        return update("INSERT INTO invoice (id, amount, currency, state) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                statement -> {
                    statement.setString(1, invoice.id());
                    statement.setBigDecimal(2, invoice.value());
                    statement.setString(3, invoice.currency().getCurrencyCode());
                    statement.setString(4, invoice.state().name());
                }) == 1;
    }

    @Override
    public List<Claimed> claimUnpaid(String owner, String after, int limit) {
        Objects.requireNonNull(owner, "owner");
        List<Claimed> claimed = new ArrayList<>(Math.min(limit, 1024));
        try (Connection connection = dataSource.getConnection();
             PreparedStatement statement = connection.prepareStatement(CLAIM)) {
            // "" sorts before every id, which has at least one character.
            statement.setString(1, after == null ? "" : after);
            statement.setDouble(2, lease.toMillis() / 1000.0);
            statement.setInt(3, limit);
            statement.setString(4, owner);
            try (ResultSet rows = statement.executeQuery()) {
                while (rows.next()) {
                    claimed.add(new Claimed(invoice(rows), rows.getBoolean("outcome_unknown")));
                }
            }
        } catch (SQLException e) {
            throw failure("claim the unpaid invoices", e);
        }
        claimed.sort(Comparator.comparing(claim -> claim.invoice().id()));
        return claimed;
    }

    @Override
    public Set<String> renew(String owner, Collection<String> ids) {
        return changeClaimed(RENEW, "renew the claims on invoices", (connection, statement) -> {
            statement.setArray(1, connection.createArrayOf("text", ids.toArray()));
            statement.setString(2, owner);
        });
    }

    @Override
    public Set<String> settle(String owner, Map<String, Settlement> settlements) {
        return changeClaimed(SETTLE, "record how invoices were paid", (connection, statement) -> {
            List<String> ids = new ArrayList<>(settlements.keySet());
            statement.setArray(1, connection.createArrayOf("text", ids.toArray()));
            statement.setArray(2, connection.createArrayOf("text",
                    ids.stream().map(id -> settlements.get(id).name()).toArray()));
            statement.setString(3, owner);
        });
    }

    /** Binds a statement over claimed invoices (SettlePlanTest binds the same ones for EXPLAIN). */
    interface ClaimBinder {
        void bind(Connection connection, PreparedStatement statement) throws SQLException;
    }

    /** Runs one statement over claimed invoices and returns the ids it changed. */
    private Set<String> changeClaimed(String sql, String action, ClaimBinder binder) {
        try (Connection connection = dataSource.getConnection();
             PreparedStatement statement = connection.prepareStatement(sql)) {
            binder.bind(connection, statement);
            Set<String> changed = new HashSet<>();
            try (ResultSet rows = statement.executeQuery()) {
                while (rows.next()) {
                    changed.add(rows.getString(1));
                }
            }
            return changed;
        } catch (SQLException e) {
            throw failure(action, e);
        }
    }

    private interface Binder {
        void bind(PreparedStatement statement) throws SQLException;
    }

    private List<Invoice> query(String sql, Binder binder) {
        try (Connection connection = dataSource.getConnection();
             PreparedStatement statement = connection.prepareStatement(sql)) {
            binder.bind(statement);
            List<Invoice> invoices = new ArrayList<>();
            try (ResultSet rows = statement.executeQuery()) {
                while (rows.next()) {
                    invoices.add(invoice(rows));
                }
            }
            return invoices;
        } catch (SQLException e) {
            throw failure("read invoices", e);
        }
    }

    private int update(String sql, Binder binder) {
        try (Connection connection = dataSource.getConnection();
             PreparedStatement statement = connection.prepareStatement(sql)) {
            binder.bind(statement);
            return statement.executeUpdate();
        } catch (SQLException e) {
            throw failure("write an invoice", e);
        }
    }

    private static Invoice invoice(ResultSet row) throws SQLException {
        return new Invoice(row.getString("id"), row.getBigDecimal("amount"),
                Currency.getInstance(row.getString("currency")), Invoice.State.valueOf(row.getString("state")));
    }

    /**
     * Lost or refused connections (SQLSTATE classes 08 connection exception, 53 insufficient
     * resources, 57P operator intervention such as a shutdown) and pool timeouts mean the database is
     * away for now: 503. Anything else is a fault in this service and stays a 500.
     */
    static RuntimeException failure(String action, SQLException e) {
        String state = e.getSQLState() == null ? "" : e.getSQLState();
        if (e instanceof SQLTransientException || e instanceof SQLRecoverableException
                || state.startsWith("08") || state.startsWith("53") || state.startsWith("57P")) {
            return new StoreUnavailableException("cannot " + action + ": the invoice database is unavailable ("
                    + e.getMessage() + ")", e);
        }
        return new IllegalStateException("cannot " + action + ": " + e.getMessage(), e);
    }
}
