package dev.paymesh.payment;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import javax.sql.DataSource;

import io.helidon.config.Config;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import dev.paymesh.support.Database;
import dev.paymesh.support.DatabaseSettings;
import dev.paymesh.support.ServiceConfig;

/**
 * Real PostgreSQL servers for the tests, run from the embedded binaries (no Docker). One shared
 * server hands out a fresh empty database per caller; a test that stops the server starts its own.
 * The service connects as {@link #USER}, a role that must give its password (scram-sha-256), as
 * in a deployment; the tests look at the data as the superuser ({@link #admin}).
 */
final class TestPostgres {

    static final String USER = "payment_provider";
    static final String PASSWORD = "s3cret-for-tests";

    private static final AtomicInteger DATABASES = new AtomicInteger();
    private static EmbeddedPostgres shared;

    private TestPostgres() {
    }

    /** The shared server, started on first use and stopped when the test JVM exits. */
    static synchronized EmbeddedPostgres shared() {
        if (shared == null) {
            shared = start(null, 0);
        }
        return shared;
    }

    /** Creates an empty database on the shared server and returns its JDBC URL. */
    static String newDatabase() {
        String name = "payments_" + DATABASES.incrementAndGet();
        execute(shared().getPostgresDatabase(), "CREATE DATABASE " + name + " OWNER " + USER);
        return jdbcUrl(shared(), name);
    }

    /**
     * Creates an empty database on the shared server owned by a new role that must log in with its
     * password (the server trusts everyone else), and returns the database's JDBC URL.
     */
    static String newDatabaseWithPassword(String role, String password) {
        String url = newDatabase();
        String database = url.substring(url.lastIndexOf('/') + 1);
        DataSource admin = shared().getPostgresDatabase();
        execute(admin, "CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'");
        execute(admin, "ALTER DATABASE " + database + " OWNER TO " + role);
        try (Connection connection = admin.getConnection(); Statement statement = connection.createStatement();
             var hba = statement.executeQuery("SHOW hba_file")) {
            hba.next();
            Path file = Path.of(hba.getString(1));
            // The first matching line decides, so the rule goes before the trusting ones.
            String rule = "host " + database + " " + role + " 127.0.0.1/32 scram-sha-256\n";
            Files.writeString(file, rule + Files.readString(file));
            statement.execute("SELECT pg_reload_conf()");
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return url;
    }

    /** The URL of a database on the server, over the IPv4 loopback only. */
    static String jdbcUrl(EmbeddedPostgres server, String database) {
        return "jdbc:postgresql://127.0.0.1:" + server.getPort() + "/" + database;
    }

    /**
     * Starts a server; with a data directory and a port it can be stopped and started again on the
     * same data, as a database pod restarting on its volume would.
     */
    static EmbeddedPostgres start(Path dataDirectory, int port) {
        try {
            EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                    .setPGStartupWait(Duration.ofSeconds(30))
                    .setServerConfig("listen_addresses", "127.0.0.1")
                    // Small, so that a few servers fit beside each other on a build machine.
                    .setServerConfig("max_connections", "60")
                    .setServerConfig("shared_buffers", "16MB");
            if (dataDirectory != null) {
                builder.setDataDirectory(dataDirectory).setCleanDataDirectory(false);
            }
            if (port != 0) {
                builder.setPort(port);
            }
            EmbeddedPostgres server = builder.start();
            requirePassword(server);
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Creates {@link #USER} when the server does not have it yet, and makes it prove its password. */
    private static void requirePassword(EmbeddedPostgres server) throws IOException {
        DataSource admin = server.getPostgresDatabase();
        try (Connection connection = admin.getConnection(); Statement statement = connection.createStatement()) {
            var exists = statement.executeQuery("SELECT count(*) FROM pg_roles WHERE rolname = '" + USER + "'");
            exists.next();
            if (exists.getInt(1) == 0) {
                statement.execute("CREATE ROLE " + USER + " LOGIN PASSWORD '" + PASSWORD + "'");
            }
            var hba = statement.executeQuery("SHOW hba_file");
            hba.next();
            Path file = Path.of(hba.getString(1));
            // initdb trusts every local connection; the first matching line decides.
            String rule = "host all " + USER + " 127.0.0.1/32 scram-sha-256\n";
            String rules = Files.readString(file);
            if (!rules.startsWith(rule)) {
                Files.writeString(file, rule + rules);
            }
            statement.execute("SELECT pg_reload_conf()");
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The database on the shared server as the superuser sees it, to look at the data. */
    static DataSource admin(String database) {
        return shared().getDatabase("postgres", database);
    }

    static void execute(DataSource dataSource, String sql) {
        try (Connection connection = dataSource.getConnection(); Statement statement = connection.createStatement()) {
            statement.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException(sql, e);
        }
    }

    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Configuration of a payment-provider on a free local port using the database at the URL, with
     * short timeouts so that an outage shows within a second; extra entries override the defaults.
     */
    static Config providerConfig(String jdbcUrl, Map<String, String> extra) {
        Map<String, String> values = new HashMap<>(Map.of(
                "server.port", "0",
                "server.host", "127.0.0.1",
                "db.url", jdbcUrl,
                "db.user", USER,
                "db.password", PASSWORD,
                "db.pool.max-size", "8",
                "db.pool.connection-timeout-millis", "500",
                "db.socket-timeout-seconds", "5",
                "db.startup-wait-seconds", "0"));
        values.putAll(extra);
        return ServiceConfig.over(Main.class, values);
    }

    static DatabaseSettings settings(String jdbcUrl) {
        return DatabaseSettings.from(providerConfig(jdbcUrl, Map.of()).get("db")).orElseThrow();
    }

    /** The payment database at the URL, migrated, as the service opens it. */
    static Database open(String jdbcUrl) {
        return Database.open(settings(jdbcUrl), "payment", "payment-provider");
    }
}
