package dev.paymesh.payment;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.util.Currency;
import java.util.Optional;

import javax.sql.DataSource;

import dev.paymesh.support.StoreUnavailableException;

/**
 * Payments in a PostgreSQL table whose primary key is the invoice id, so that every replica sharing
 * the database records a payment at most once. Each statement runs on its own (auto-commit): an
 * insert either committed whole or did nothing, there is no partly recorded payment.
 */
public final class JdbcPaymentStore implements PaymentStore {

    // ON CONFLICT DO NOTHING waits for a concurrent insert of the same id to commit or roll back,
    // so exactly one of any number of racing inserts gets a row back.
    private static final String INSERT = """
            INSERT INTO payments (invoice_id, amount, currency) VALUES (?, ?, ?)
            ON CONFLICT (invoice_id) DO NOTHING
            RETURNING invoice_id""";

    private static final String SELECT = "SELECT amount, currency FROM payments WHERE invoice_id = ?";

    private final DataSource dataSource;

    public JdbcPaymentStore(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    @Override
    public Outcome record(Payment payment) {
        try (Connection connection = dataSource.getConnection()) {
            if (insert(connection, payment)) {
                return Outcome.RECORDED;
            }
            // The insert lost to a row that is committed by now. This is a new statement, so under
            // READ COMMITTED it sees that row, which the insert's own snapshot may not have.
            Payment existing = select(connection, payment.id()).orElseThrow(() -> new IllegalStateException(
                    "payment " + payment.id() + " conflicted on insert but is not in the table; was it deleted?"));
            return existing.sameChargeAs(payment) ? Outcome.ALREADY_RECORDED : Outcome.CONFLICT;
        } catch (SQLException e) {
            throw failure("record payment " + payment.id(), e);
        }
    }

    @Override
    public Optional<Payment> find(String id) {
        try (Connection connection = dataSource.getConnection()) {
            return select(connection, id);
        } catch (SQLException e) {
            throw failure("look up payment " + id, e);
        }
    }

    private static boolean insert(Connection connection, Payment payment) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(INSERT)) {
            statement.setString(1, payment.id());
            statement.setBigDecimal(2, payment.value());
            statement.setString(3, payment.currency().getCurrencyCode());
            try (ResultSet inserted = statement.executeQuery()) {
                return inserted.next();
            }
        }
    }

    private static Optional<Payment> select(Connection connection, String id) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(SELECT)) {
            statement.setString(1, id);
            try (ResultSet row = statement.executeQuery()) {
                if (!row.next()) {
                    return Optional.empty();
                }
                BigDecimal amount = row.getBigDecimal("amount");
                Currency currency = Currency.getInstance(row.getString("currency"));
                return Optional.of(new Payment(id, amount, currency));
            }
        }
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
}
