package dev.paymesh.invoice;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.Test;

import dev.paymesh.support.Database;
import dev.paymesh.support.DatabaseSettings;
import dev.paymesh.support.StartupException;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * In a cluster invoice-app may start before its database answers. It waits for it, up to
 * {@code db.startup-wait-seconds}, instead of exiting and being restarted with a growing back-off.
 */
class DatabaseStartupWaitTest {

    @Test
    void aDatabaseThatStartsLaterIsWaitedForAndMigrated() throws Exception {
        int port = freePort();
        Path dataDirectory = Path.of("target", "pg-late-" + UUID.randomUUID()).toAbsolutePath();
        Duration lateBy = Duration.ofSeconds(2);
        CompletableFuture<EmbeddedPostgres> server = CompletableFuture.supplyAsync(() -> {
            sleep(lateBy);
            return TestPostgres.start(EmbeddedPostgres.builder().setDataDirectory(dataDirectory).setPort(port));
        });
        // The superuser the server is initialised with; local connections are trusted.
        var settings = new DatabaseSettings("jdbc:postgresql://127.0.0.1:" + port + "/postgres", "postgres",
                "unused", 2, Duration.ofMillis(500), Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofSeconds(1));
        // Nothing listens yet when the service begins to connect, so only waiting can open it.
        boolean absentWhenOpening = !server.isDone();
        try (Database database = Database.open(settings, "invoice", "invoice-app")) {
            assertThat("the database was not up yet when the service began", absentWhenOpening, is(true));
            assertThat(ids(database), is(List.of("I1", "I2", "I3")));
        } finally {
            server.join().close();
            delete(dataDirectory);
        }
    }

    @Test
    void aDatabaseThatNeverAnswersFailsTheStartOnceTheWaitIsOver() throws Exception {
        int port = freePort();
        Duration wait = Duration.ofSeconds(2);
        var settings = new DatabaseSettings("jdbc:postgresql://127.0.0.1:" + port + "/invoices", "invoice_app",
                "unused", 2, Duration.ofMillis(500), Duration.ofSeconds(5), wait, Duration.ofSeconds(1));
        long start = System.nanoTime();

        StartupException failure = assertThrows(StartupException.class, () -> Database.open(settings, "invoice", "invoice-app"));

        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(took, greaterThanOrEqualTo(wait.dividedBy(2)));
        assertThat(took, lessThan(wait.plusSeconds(5)));
        assertThat(failure.getMessage(), startsWith("cannot connect to the invoice database"));
    }

    private static List<String> ids(Database database) throws Exception {
        List<String> ids = new ArrayList<>();
        try (Connection connection = database.dataSource().getConnection();
             Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery("SELECT id FROM invoice ORDER BY id")) {
            while (rows.next()) {
                ids.add(rows.getString(1));
            }
        }
        return ids;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void delete(Path directory) throws IOException {
        if (!Files.exists(directory)) {
            return;
        }
        try (Stream<Path> files = Files.walk(directory)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(file);
            }
        }
    }
}
