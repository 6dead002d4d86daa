package dev.paymesh.invoice;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;

import javax.sql.DataSource;

/** The asynchronous pay runs in the invoice database (table pay_run), seen alike by every replica. */
final class JdbcPayRunLog implements PayRunLog {

    /** Runs are kept this long, then removed when a new one starts. */
    private static final String FORGET_OLD = "DELETE FROM pay_run WHERE started_at < now() - interval '7 days'";

    private static final String FIND = """
            SELECT state, paid, failed, status, answer,
                   state = 'RUNNING' AND updated_at < now() - make_interval(secs => ?) AS abandoned
              FROM pay_run WHERE id = ?""";

    private interface Binder {
        void bind(PreparedStatement statement) throws SQLException;
    }

    private final DataSource dataSource;
    /** How long a RUNNING row may stand still before its replica is taken to be gone. */
    private final Duration silence;

    /** @param claimLease a living run writes at least once a lease; silence for two means its replica is gone */
    JdbcPayRunLog(DataSource dataSource, Duration claimLease) {
        this.dataSource = dataSource;
        this.silence = claimLease.multipliedBy(2);
    }

    @Override
    public void started(String id) {
        update(FORGET_OLD, statement -> { });
        update("INSERT INTO pay_run (id) VALUES (?)", statement -> statement.setString(1, id));
    }

    @Override
    public void progressed(String id, int paid, int failed) {
        update("UPDATE pay_run SET paid = ?, failed = ?, updated_at = now() WHERE id = ? AND state = 'RUNNING'", statement -> {
            statement.setInt(1, paid);
            statement.setInt(2, failed);
            statement.setString(3, id);
        });
    }

    @Override
    public void finished(String id, int paid, int failed, int status, String answer) {
        update("""
                UPDATE pay_run SET state = 'DONE', paid = ?, failed = ?, status = ?, answer = ?, updated_at = now()
                 WHERE id = ?""", statement -> {
            statement.setInt(1, paid);
            statement.setInt(2, failed);
            statement.setInt(3, status);
            statement.setString(4, answer);
            statement.setString(5, id);
        });
    }

    @Override
    public void interrupted(String id) {
        update("UPDATE pay_run SET state = 'INTERRUPTED', updated_at = now() WHERE id = ? AND state = 'RUNNING'",
                statement -> statement.setString(1, id));
    }

    @Override
    public Optional<Run> find(String id) {
        try (Connection connection = dataSource.getConnection();
             PreparedStatement statement = connection.prepareStatement(FIND)) {
            statement.setDouble(1, silence.toMillis() / 1000.0);
            statement.setString(2, id);
            try (ResultSet row = statement.executeQuery()) {
                if (!row.next()) {
                    return Optional.empty();
                }
                State state = row.getBoolean("abandoned") ? State.INTERRUPTED : State.valueOf(row.getString("state"));
                return Optional.of(new Run(id, state, row.getInt("paid"), row.getInt("failed"), row.getInt("status"),
                        row.getString("answer")));
            }
        } catch (SQLException e) {
            throw JdbcInvoiceStore.failure("read a pay run", e);
        }
    }

    private void update(String sql, Binder binder) {
        try (Connection connection = dataSource.getConnection();
             PreparedStatement statement = connection.prepareStatement(sql)) {
            binder.bind(statement);
            statement.executeUpdate();
        } catch (SQLException e) {
            throw JdbcInvoiceStore.failure("record a pay run", e);
        }
    }
}
