package dev.paymesh.payment;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.helidon.http.Status;
import io.helidon.webclient.api.WebClient;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;

/**
 * The service as a pod runs it: its own JVM, configured by environment variables only. Proves that
 * DB_URL and friends reach the database settings through Helidon's environment mapping, and that a
 * database the service cannot migrate stops the process with a message that says why.
 */
class MainProcessTest {

    private static final Duration START_WITHIN = Duration.ofSeconds(30);
    private static final Pattern LISTENING = Pattern.compile("payment-provider listening on port (\\d+) \\(store: ([^)]*)\\)");

    private Process process;
    private final List<String> output = new ArrayList<>();
    private Thread reader;

    @AfterEach
    void stopProcess() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    private void launch(Map<String, String> environment) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder builder = new ProcessBuilder(java, "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), Main.class.getName())
                .redirectErrorStream(true);
        // Nothing from the build's own environment may configure the service under test.
        builder.environment().keySet().removeIf(name -> name.startsWith("DB_") || name.startsWith("SERVER_")
                || name.startsWith("PAYMENTS_"));
        builder.environment().putAll(environment);
        builder.environment().put("SERVER_PORT", "0");
        builder.environment().put("SERVER_HOST", "127.0.0.1");
        process = builder.start();
        reader = Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader reader = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    synchronized (output) {
                        output.add(line);
                        output.notifyAll();
                    }
                }
            } catch (IOException e) {
                // the process ended; what it printed is kept
            }
        });
    }

    /** Waits for the line saying where the service listens, or for the process to end. */
    private Matcher awaitListening() throws InterruptedException {
        long deadline = System.nanoTime() + START_WITHIN.toNanos();
        synchronized (output) {
            while (System.nanoTime() < deadline) {
                for (String line : output) {
                    Matcher listening = LISTENING.matcher(line);
                    if (listening.find()) {
                        return listening;
                    }
                }
                if (!process.isAlive()) {
                    break;
                }
                output.wait(100);
            }
        }
        throw new AssertionError("payment-provider did not start within " + START_WITHIN + ":\n" + printed());
    }

    private void awaitEndOfOutput() throws InterruptedException {
        reader.join(Duration.ofSeconds(5));
    }

    private String printed() {
        synchronized (output) {
            return String.join("\n", output);
        }
    }

    @Test
    void databaseEnvironmentVariablesSelectThePostgresStore() throws Exception {
        String url = TestPostgres.newDatabaseWithPassword("payments_app", "from-the-secret");
        launch(Map.of("DB_URL", url, "DB_USER", "payments_app", "DB_PASSWORD", "from-the-secret",
                "DB_POOL_MAX_SIZE", "3"));

        Matcher listening = awaitListening();
        assertThat(listening.group(2), containsString("postgresql, url=" + url + ", user=payments_app, pool max-size=3"));
        WebClient client = WebClient.builder().baseUri("http://127.0.0.1:" + listening.group(1)).build();
        var ready = client.get("/observe/health/ready").request(String.class);
        assertThat(ready.status(), is(Status.OK_200));
        assertThat(ready.entity(), containsString("\"database\""));
        var paid = client.post("/payments/pay").submit("{\"id\":\"P1\",\"value\":3.30,\"currency\":\"DKK\"}", String.class);
        assertThat(paid.status(), is(Status.OK_200));

        String database = url.substring(url.lastIndexOf('/') + 1);
        assertThat(query(database, "SELECT amount || ' ' || currency FROM payments WHERE invoice_id = 'P1'"),
                is("3.30 DKK"));
        assertThat(query(database, "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity"
                + " WHERE application_name = 'payment-provider' AND datname = current_database()"), is("payments_app"));
    }

    @Test
    void wrongDatabasePasswordStopsTheProcess() throws Exception {
        String url = TestPostgres.newDatabaseWithPassword("payments_locked", "the-right-one");
        launch(Map.of("DB_URL", url, "DB_USER", "payments_locked", "DB_PASSWORD", "a-wrong-one",
                "DB_STARTUP_WAIT_SECONDS", "0"));

        assertExitsSaying("cannot connect to the payment database (url=" + url + ", user=payments_locked");
        assertThat(printed(), containsString("password authentication failed"));
        assertThat(printed(), not(containsString("a-wrong-one")));
    }

    private static String query(String database, String sql) throws Exception {
        try (var connection = TestPostgres.admin(database).getConnection();
             var statement = connection.createStatement();
             var row = statement.executeQuery(sql)) {
            assertThat(sql, row.next(), is(true));
            return row.getString(1);
        }
    }

    private void assertExitsSaying(String reason) throws Exception {
        assertThat("exited within " + START_WITHIN, process.waitFor(START_WITHIN.toSeconds(), TimeUnit.SECONDS), is(true));
        assertThat(printed(), process.exitValue(), is(1));
        awaitEndOfOutput();
        assertThat(printed(), containsString("payment-provider cannot start: " + reason));
        assertThat(printed(), not(containsString("listening on port")));
    }

    @Test
    void withoutDatabaseUrlPaymentsStayInMemory() throws Exception {
        launch(Map.of());
        Matcher listening = awaitListening();
        assertThat(listening.group(2), is("in-memory, max body 65536 bytes"));
        WebClient client = WebClient.builder().baseUri("http://127.0.0.1:" + listening.group(1)).build();
        var ready = client.get("/observe/health/ready").request(String.class);
        assertThat(ready.status(), is(Status.OK_200));
        assertThat(ready.entity(), not(containsString("\"database\"")));
    }

    @Test
    void unreachableDatabaseStopsTheProcessWithAMessageSayingWhy() throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + TestPostgres.freePort() + "/payments";
        launch(Map.of("DB_URL", url, "DB_USER", "payments", "DB_PASSWORD", "not-to-be-printed",
                "DB_STARTUP_WAIT_SECONDS", "0"));

        assertExitsSaying("cannot connect to the payment database (url=" + url + ", user=payments,");
        assertThat(printed(), not(containsString("not-to-be-printed")));
    }
}
