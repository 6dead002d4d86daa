package dev.paymesh.invoice;

import java.io.IOException;
import java.net.ServerSocket;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.helidon.config.Config;
import io.helidon.config.ConfigSources;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.Database;
import dev.paymesh.support.DatabaseSettings;
import dev.paymesh.support.ServiceConfig;
import dev.paymesh.support.StartupException;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The migrations on a real PostgreSQL: from an empty database, again on a migrated one, and failing. */
class InvoiceMigrationTest {

    private static List<String> rows(Connection connection, String sql) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Statement statement = connection.createStatement(); ResultSet result = statement.executeQuery(sql)) {
            int columns = result.getMetaData().getColumnCount();
            while (result.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 1; i <= columns; i++) {
                    row.append(i == 1 ? "" : " ").append(result.getString(i));
                }
                rows.add(row.toString());
            }
        }
        return rows;
    }

    @Test
    void anEmptyDatabaseGetsTheTableAndTheSeedOnce() throws SQLException {
        TestPostgres.Database database = TestPostgres.newDatabase();
        try (Connection connection = database.admin().getConnection()) {
            assertThat(rows(connection, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), is(List.of("0")));
        }

        JdbcInvoiceStoreTest.open(database.url()).close();
        // A second start, as every other replica and every restart does, changes nothing.
        JdbcInvoiceStoreTest.open(database.url()).close();

        try (Connection connection = database.admin().getConnection()) {
            assertThat(rows(connection, "SELECT version, success FROM flyway_schema_history ORDER BY installed_rank"),
                    is(List.of("1 t", "2 t", "3 t", "4 t", "5 t")));
            assertThat(rows(connection, "SELECT id, amount::text, currency, state, outcome_unknown, claimed_by"
                            + " FROM invoice ORDER BY id"),
                    is(List.of("I1 12.15 EUR UNPAID f null", "I2 10.25 GBP UNPAID f null", "I3 66.13 DKK UNPAID f null")));
            assertThat(rows(connection, "SELECT column_name, data_type, numeric_precision, numeric_scale"
                            + " FROM information_schema.columns WHERE table_name = 'invoice' AND column_name = 'amount'"),
                    is(List.of("amount numeric null null")));
            assertThat(rows(connection, "SELECT tableowner FROM pg_tables WHERE tablename = 'invoice'"),
                    is(List.of(TestPostgres.USER)));
        }
    }

    @Test
    void theSchemaRefusesAStateOutsideTheThreeAndAPayingInvoiceWithoutClaim() throws SQLException {
        TestPostgres.Database database = TestPostgres.newDatabase();
        JdbcInvoiceStoreTest.open(database.url()).close();
        try (Connection connection = database.admin().getConnection();
             Statement statement = connection.createStatement()) {
            SQLException badState = assertThrows(SQLException.class, () -> statement.executeUpdate(
                    "UPDATE invoice SET state = 'LOST' WHERE id = 'I1'"));
            assertThat(badState.getSQLState(), is("23514"));
            SQLException unclaimed = assertThrows(SQLException.class, () -> statement.executeUpdate(
                    "UPDATE invoice SET state = 'PAYING' WHERE id = 'I1'"));
            assertThat(unclaimed.getMessage(), containsString("invoice_paying_is_claimed"));
            SQLException free = assertThrows(SQLException.class, () -> statement.executeUpdate(
                    "INSERT INTO invoice (id, amount, currency) VALUES ('F', 0, 'EUR')"));
            assertThat(free.getSQLState(), is("23514"));
        }
    }

    private static Config serverWithDatabase(String url) {
        return ServiceConfig.over(Main.class, Map.of(
                "server.port", "0", "server.host", "127.0.0.1",
                "db.url", url, "db.user", TestPostgres.USER, "db.password", TestPostgres.PASSWORD,
                "db.pool.connection-timeout-millis", "500"));
    }

    @Test
    void aMigrationThatFailsHalfWayStopsTheStartAndLeavesNothingBehind() throws SQLException {
        TestPostgres.Database database = TestPostgres.newDatabase();
        // A guard outside the service's schema makes V1 fail after it created its table.
        try (Connection connection = database.admin().getConnection();
             Statement statement = connection.createStatement()) {
            statement.execute("CREATE SCHEMA guard");
            statement.execute("""
                    CREATE FUNCTION guard.refuse_invoice_table() RETURNS event_trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                                    WHERE object_identity = 'public.invoice') THEN
                            RAISE EXCEPTION 'no invoice table in this database';
                        END IF;
                    END $$""");
            statement.execute("CREATE EVENT TRIGGER refuse_invoice_table ON ddl_command_end"
                    + " EXECUTE FUNCTION guard.refuse_invoice_table()");
        }

        StartupException failure = assertThrows(StartupException.class,
                () -> Main.start(serverWithDatabase(database.url())));

        assertThat(failure.getMessage(), startsWith("database migration failed for the invoice database (url="
                + database.url() + ", user=" + TestPostgres.USER));
        assertThat(failure.getMessage(), containsString("no invoice table in this database"));
        assertThat(failure.getMessage(), not(containsString(TestPostgres.PASSWORD)));
        try (Connection connection = database.admin().getConnection()) {
            // PostgreSQL runs each migration in a transaction: the failed one left no table behind.
            assertThat(rows(connection, "SELECT count(*) FROM pg_tables WHERE tablename = 'invoice'"), is(List.of("0")));
            assertThat(rows(connection, "SELECT count(*) FROM flyway_schema_history WHERE success"), is(List.of("0")));
        }
    }

    @Test
    void aDatabaseHoldingSomethingElseIsNotMigratedOver() throws SQLException {
        TestPostgres.Database database = TestPostgres.newDatabase();
        try (Connection connection = database.admin().getConnection();
             Statement statement = connection.createStatement()) {
            statement.execute("CREATE TABLE invoice (id INT)");
            statement.execute("ALTER TABLE invoice OWNER TO " + TestPostgres.USER);
        }

        StartupException failure = assertThrows(StartupException.class,
                () -> Main.start(serverWithDatabase(database.url())));

        assertThat(failure.getMessage(), startsWith("database migration failed for the invoice database"));
        assertThat(failure.getMessage(), containsString("Found non-empty schema(s) \"public\" but no schema history table"));
        try (Connection connection = database.admin().getConnection()) {
            assertThat(rows(connection, "SELECT count(*) FROM invoice"), is(List.of("0")));
        }
    }

    @Test
    void aDatabaseThatCannotBeReachedStopsTheStartWithAClearMessage() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        String url = "jdbc:postgresql://127.0.0.1:" + closedPort + "/invoices";

        StartupException failure = assertThrows(StartupException.class,
                () -> Database.open(JdbcInvoiceStoreTest.settings(url + "?password=in-the-url"), "invoice", "invoice-app"));

        assertThat(failure.getMessage(), startsWith("cannot connect to the invoice database (url=" + url
                + "?password=***, user=" + TestPostgres.USER));
        assertThat(failure.getMessage(), not(containsString("in-the-url")));
        assertThat(failure.getMessage(), containsString("Connection to 127.0.0.1:" + closedPort + " refused"));
    }

    @Test
    void aWrongPasswordStopsTheStartWithAClearMessage() {
        TestPostgres.Database database = TestPostgres.newDatabase();
        var settings = new DatabaseSettings(database.url(), TestPostgres.USER, "not-the-password", 2,
                java.time.Duration.ofMillis(500), java.time.Duration.ofSeconds(5), java.time.Duration.ofSeconds(60),
                java.time.Duration.ofSeconds(1));

        long start = System.nanoTime();
        StartupException failure = assertThrows(StartupException.class, () -> Database.open(settings, "invoice", "invoice-app"));

        // Not waited out like an unreachable database: a wrong password will not heal.
        assertThat(java.time.Duration.ofNanos(System.nanoTime() - start).toSeconds() < 10, is(true));
        assertThat(failure.getMessage(), containsString("password authentication failed for user \"invoice_app\""));
        assertThat(failure.getMessage(), not(containsString("not-the-password")));
    }
}
