package dev.paymesh.invoice;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Currency;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

import javax.sql.DataSource;

import dev.paymesh.support.StoreUnavailableException;

/**
 * Invoices in PostgreSQL, shared by every replica. Each method is one statement in its own
 * transaction; the claim is one UPDATE whose row locks keep concurrent runs apart.
 */
final class JdbcInvoiceStore implements InvoiceStore {

    private static final String COLUMNS = "id, amount, currency, state";

    // Rows another transaction is claiming right now are skipped, not waited for: that run takes them.
    // The row lock also re-checks the WHERE on the newest row version, so an invoice claimed and
    // committed by another run meanwhile no longer qualifies. The lease is compared with the database
    // clock, the one clock every replica shares.
    private static final String CLAIM = """
            UPDATE invoice
               SET state = 'PAYING', claimed_by = ?, claimed_at = now()
             WHERE id IN (SELECT id FROM invoice
                           WHERE state = 'UNPAID'
                              OR (state = 'PAYING' AND claimed_at <= now() - make_interval(secs => ?))
                             FOR UPDATE SKIP LOCKED)
            RETURNING id, amount, currency, state, outcome_unknown""";

    private static final String START_PAYMENT = """
            UPDATE invoice SET claimed_at = now(), outcome_unknown = TRUE
             WHERE id = ? AND state = 'PAYING' AND claimed_by = ?""";

    private static final String MARK_PAID = """
            UPDATE invoice SET state = 'PAID', paid_at = now(), outcome_unknown = FALSE
             WHERE id = ? AND state = 'PAYING' AND claimed_by = ?""";

    private static final String RELEASE = """
            UPDATE invoice SET state = 'UNPAID', claimed_by = NULL, claimed_at = NULL, outcome_unknown = ?
             WHERE id = ? AND state = 'PAYING' AND claimed_by = ?""";

    private static final String REFUSE = """
            UPDATE invoice SET state = 'REFUSED', claimed_by = NULL, claimed_at = NULL, outcome_unknown = FALSE
             WHERE id = ? AND state = 'PAYING' AND claimed_by = ?""";

    private final DataSource dataSource;
    private final Duration lease;

    JdbcInvoiceStore(DataSource dataSource, Duration lease) {
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.lease = Objects.requireNonNull(lease, "lease");
    }

    @Override
    public List<Invoice> list(Optional<Boolean> paid) {
        String where = paid.map(wanted -> wanted ? " WHERE state = 'PAID'" : " WHERE state <> 'PAID'").orElse("");
        return query("SELECT " + COLUMNS + " FROM invoice" + where + " ORDER BY id", statement -> { });
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
    public List<Claimed> claimUnpaid(String owner) {
        Objects.requireNonNull(owner, "owner");
        List<Claimed> claimed = new ArrayList<>();
        try (Connection connection = dataSource.getConnection();
             PreparedStatement statement = connection.prepareStatement(CLAIM)) {
            statement.setString(1, owner);
            statement.setDouble(2, lease.toMillis() / 1000.0);
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
    public boolean startPayment(String id, String owner) {
        return update(START_PAYMENT, statement -> {
            statement.setString(1, id);
            statement.setString(2, owner);
        }) == 1;
    }

    @Override
    public boolean markPaid(String id, String owner) {
        return update(MARK_PAID, statement -> {
            statement.setString(1, id);
            statement.setString(2, owner);
        }) == 1;
    }

    @Override
    public boolean release(String id, String owner, boolean outcomeUnknown) {
        return update(RELEASE, statement -> {
            statement.setBoolean(1, outcomeUnknown);
            statement.setString(2, id);
            statement.setString(3, owner);
        }) == 1;
    }

    @Override
    public boolean refuse(String id, String owner) {
        return update(REFUSE, statement -> {
            statement.setString(1, id);
            statement.setString(2, owner);
        }) == 1;
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
    private static RuntimeException failure(String action, SQLException e) {
        String state = e.getSQLState() == null ? "" : e.getSQLState();
        if (e instanceof SQLTransientException || e instanceof SQLRecoverableException
                || state.startsWith("08") || state.startsWith("53") || state.startsWith("57P")) {
            return new StoreUnavailableException("cannot " + action + ": the invoice database is unavailable ("
                    + e.getMessage() + ")", e);
        }
        return new IllegalStateException("cannot " + action + ": " + e.getMessage(), e);
    }
}
