package dev.paymesh.payment;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import javax.sql.DataSource;

import io.helidon.webserver.WebServer;

import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.paymesh.support.AppliedMigrations;
import dev.paymesh.support.Database;
import dev.paymesh.support.StartupException;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The schema from an empty database, replicas migrating at once, and refusing to start without it. */
class PaymentDatabaseTest {

    private static final String MIGRATIONS = "db/migration/payment";

    private static DataSource admin(String jdbcUrl) {
        String database = jdbcUrl.substring(jdbcUrl.lastIndexOf('/') + 1);
        return TestPostgres.admin(database);
    }

    private static List<String> rows(DataSource dataSource, String sql) throws SQLException {
        try (Connection connection = dataSource.getConnection();
             Statement statement = connection.createStatement();
             ResultSet result = statement.executeQuery(sql)) {
            List<String> rows = new ArrayList<>();
            int columns = result.getMetaData().getColumnCount();
            while (result.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 1; i <= columns; i++) {
                    row.append(i == 1 ? "" : " ").append(result.getString(i));
                }
                rows.add(row.toString());
            }
            return rows;
        }
    }

    @Test
    void migratesAnEmptyDatabaseToTheCurrentSchema() throws SQLException {
        String url = TestPostgres.newDatabase();
        try (Database database = TestPostgres.open(url)) {
            assertThat(rows(database.dataSource(),
                    "SELECT version, success FROM flyway_schema_history WHERE version IS NOT NULL ORDER BY installed_rank"),
                    is(List.of("1 t", "2 t")));
            assertThat(rows(database.dataSource(), """
                    SELECT column_name, data_type, is_nullable FROM information_schema.columns
                    WHERE table_name = 'payments' ORDER BY ordinal_position"""),
                    is(List.of("invoice_id character varying NO", "amount numeric NO",
                            "currency character NO", "recorded_at timestamp with time zone NO")));
            assertThat(rows(database.dataSource(), """
                    SELECT kcu.column_name FROM information_schema.table_constraints tc
                    JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
                    WHERE tc.table_name = 'payments' AND tc.constraint_type = 'PRIMARY KEY'"""),
                    is(List.of("invoice_id")));
        }
    }

    @Test
    void aCurrentSchemaIsToldByTheHistoryAloneWithFlywaysOwnChecksums() throws SQLException {
        String url = TestPostgres.newDatabase();
        try (Database database = TestPostgres.open(url)) {
            // Flyway applied both; the history it wrote is read back as current, checksums and all.
            assertThat(AppliedMigrations.currentVersion(database.dataSource(), MIGRATIONS), is(Optional.of("2")));
        }
        try (Database database = TestPostgres.open(url)) {
            assertThat(rows(admin(url), "SELECT version, success FROM flyway_schema_history ORDER BY installed_rank"),
                    is(List.of("1 t", "2 t")));
        }
    }

    @Test
    void aPendingMigrationIsAppliedBeforeTheDatabaseOpens() throws SQLException {
        String url = TestPostgres.newDatabase();
        // The schema of a release that had V1 only.
        Flyway.configure().dataSource(url, TestPostgres.USER, TestPostgres.PASSWORD)
                .locations("classpath:" + MIGRATIONS).target("1").load().migrate();
        assertThat(AppliedMigrations.currentVersion(TestPostgres.admin(url.substring(url.lastIndexOf('/') + 1)), MIGRATIONS),
                is(Optional.empty()));

        try (Database database = TestPostgres.open(url)) {
            assertThat(rows(database.dataSource(), "SELECT version, success FROM flyway_schema_history ORDER BY installed_rank"),
                    is(List.of("1 t", "2 t")));
            assertThat(rows(database.dataSource(), "SELECT count(*) FROM information_schema.columns"
                    + " WHERE table_name = 'payments' AND column_name = 'amount' AND data_type = 'numeric'"), is(List.of("1")));
        }
    }

    @Test
    void anAppliedMigrationChangedSinceIsLeftToFlywayWhichRefusesIt() {
        String url = TestPostgres.newDatabase();
        TestPostgres.open(url).close();
        TestPostgres.execute(admin(url), "UPDATE flyway_schema_history SET checksum = checksum + 1 WHERE version = '2'");

        StartupException refused = assertThrows(StartupException.class, () -> TestPostgres.open(url));
        assertThat(refused.getMessage(), allOf(
                startsWith("database migration failed for the payment database (url=" + url),
                containsString("checksum mismatch for migration version 2")));
    }

    @Test
    void aFailedMigrationInTheHistoryIsLeftToFlyway() {
        String url = TestPostgres.newDatabase();
        TestPostgres.open(url).close();
        TestPostgres.execute(admin(url), "UPDATE flyway_schema_history SET success = false WHERE version = '2'");

        StartupException refused = assertThrows(StartupException.class, () -> TestPostgres.open(url));
        assertThat(refused.getMessage(), allOf(
                startsWith("database migration failed for the payment database (url=" + url),
                containsString("failed migration")));
    }

    @Test
    void replicasStartingTogetherMigrateOnceAndAllServe() throws Exception {
        String url = TestPostgres.newDatabase();
        int replicas = 3;
        List<Callable<Database>> opens = new ArrayList<>();
        for (int i = 0; i < replicas; i++) {
            opens.add(() -> TestPostgres.open(url));
        }
        List<Database> opened = new ArrayList<>();
        try (ExecutorService executor = Executors.newFixedThreadPool(replicas)) {
            for (Future<Database> future : executor.invokeAll(opens)) {
                opened.add(future.get());
            }
        }
        try {
            assertThat(rows(admin(url), "SELECT count(*) FROM flyway_schema_history WHERE version = '1'"),
                    is(List.of("1")));
            for (Database database : opened) {
                assertThat(new JdbcPaymentStore(database.dataSource(), 1).find("none").isPresent(), is(false));
            }
        } finally {
            opened.forEach(Database::close);
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "'I1', 0, 'EUR'|payments_amount_positive",
            "'I1', -1, 'EUR'|payments_amount_positive",
            "'I1', 1.23456, 'CLF'|payments_amount_in_minor_units",
            "'I1', 1000000000000000, 'EUR'|payments_amount_bounded",
            "'I1', 1, 'eur'|payments_currency_iso_code",
            "'', 1, 'EUR'|payments_invoice_id_not_empty"})
    void schemaRefusesWhatTheServiceWouldRefuse(String values, String constraint) {
        String url = TestPostgres.newDatabase();
        try (Database database = TestPostgres.open(url)) {
            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> TestPostgres.execute(
                    database.dataSource(), "INSERT INTO payments (invoice_id, amount, currency) VALUES (" + values + ")"));
            assertThat(refused.getCause().getMessage(), containsString(constraint));
        }
    }

    @Test
    void schemaHoldsOneRowPerInvoiceId() {
        String url = TestPostgres.newDatabase();
        try (Database database = TestPostgres.open(url)) {
            String insert = "INSERT INTO payments (invoice_id, amount, currency) VALUES ('K1', 1, 'EUR')";
            TestPostgres.execute(database.dataSource(), insert);
            IllegalStateException refused = assertThrows(IllegalStateException.class,
                    () -> TestPostgres.execute(database.dataSource(), insert));
            assertThat(refused.getCause().getMessage(), containsString("payments_pkey"));
        }
    }

    @Test
    void serviceRefusesToStartWhenTheMigrationFails() {
        String url = TestPostgres.newDatabase();
        // A database that already has tables but no migration history is not one to migrate blindly.
        TestPostgres.execute(admin(url), "CREATE TABLE payments (id int)");
        var config = TestPostgres.providerConfig(url, Map.of());
        StartupException refused = assertThrows(StartupException.class,
                () -> Main.start(config));
        assertThat(refused.getMessage(), allOf(
                startsWith("database migration failed for the payment database (url=" + url),
                containsString("non-empty schema"),
                not(containsString(TestPostgres.PASSWORD))));
    }

    @Test
    void serviceRefusesToStartQuicklyWhenTheDatabaseCannotBeReached() {
        String url = "jdbc:postgresql://127.0.0.1:" + TestPostgres.freePort() + "/payments";
        long start = System.nanoTime();
        StartupException refused = assertThrows(StartupException.class,
                () -> Main.start(TestPostgres.providerConfig(url, Map.of())));
        assertThat(Duration.ofNanos(System.nanoTime() - start), lessThan(Duration.ofSeconds(10)));
        assertThat(refused.getMessage(), allOf(
                startsWith("cannot connect to the payment database (url=" + url),
                containsString("Connection to 127.0.0.1")));
    }

    @Test
    void stoppingTheServerClosesItsConnections() throws Exception {
        String url = TestPostgres.newDatabase();
        String database = url.substring(url.lastIndexOf('/') + 1);
        String connections = "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + database
                + "' AND application_name = 'payment-provider'";
        WebServer server = Main.start(TestPostgres.providerConfig(url, Map.of()));
        assertThat(rows(admin(url), connections), not(is(List.of("0"))));
        server.stop();
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!rows(admin(url), connections).equals(List.of("0")) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(rows(admin(url), connections), is(List.of("0")));
    }
}
