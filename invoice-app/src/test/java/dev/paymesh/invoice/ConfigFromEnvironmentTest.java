package dev.paymesh.invoice;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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
import static org.hamcrest.Matchers.startsWith;

/**
 * The service as the Deployment starts it: its own JVM, configured by DB_URL, DB_USER, DB_PASSWORD
 * and DB_POOL_MAX_SIZE in the environment and nothing else.
 */
class ConfigFromEnvironmentTest {

    private static final Pattern LISTENING = Pattern.compile("invoice-app listening on port (\\d+) \\(store: ([^)]*)\\)");

    private Process process;
    private final List<String> output = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Matcher> started = new CompletableFuture<>();

    @AfterEach
    void stopProcess() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    private void startMain(Map<String, String> environment) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        ProcessBuilder builder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                Main.class.getName());
        builder.environment().clear();
        builder.environment().putAll(environment);
        builder.environment().putAll(Map.of("SERVER_PORT", "0", "SERVER_HOST", "127.0.0.1",
                "PAYMENT_PROVIDER_URL", "http://127.0.0.1:9"));
        builder.redirectErrorStream(true);
        process = builder.start();
        // A service that exits before it listens fails the test at once, not after the 60 s wait.
        process.onExit().thenRun(() -> started.completeExceptionally(new AssertionError(
                "the service exited with " + process.exitValue() + " before listening:\n" + String.join("\n", output))));
        Thread.ofVirtual().start(() -> {
            try (BufferedReader reader = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    output.add(line);
                    Matcher matcher = LISTENING.matcher(line);
                    if (matcher.find()) {
                        started.complete(matcher);
                    }
                }
            } catch (IOException e) {
                started.completeExceptionally(e);
            }
        });
    }

    private static int connections(TestPostgres.Database database) throws SQLException {
        try (Connection connection = database.admin().getConnection();
             Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '"
                     + database.name() + "' AND application_name = 'invoice-app'")) {
            rows.next();
            return rows.getInt(1);
        }
    }

    @Test
    void theDeploymentsVariablesPutTheInvoicesInTheDatabase() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        startMain(Map.of("DB_URL", database.url(), "DB_USER", TestPostgres.USER,
                "DB_PASSWORD", TestPostgres.PASSWORD, "DB_POOL_MAX_SIZE", "3"));

        Matcher listening = started.get(60, TimeUnit.SECONDS);
        assertThat(listening.group(2), containsString("postgresql, url=" + database.url() + ", user="
                + TestPostgres.USER + ", pool max-size=3"));
        WebClient client = WebClient.builder().baseUri("http://127.0.0.1:" + listening.group(1)).build();

        assertThat(client.get("/invoices").request(String.class).entity(), containsString("\"InvoiceId\":\"I3\""));
        assertThat(TestApps.create(client, "ENV1", "4.20"), is(Status.CREATED_201));
        try (Connection connection = database.admin().getConnection();
             Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery("SELECT amount::text FROM invoice WHERE id = 'ENV1'")) {
            assertThat("the invoice is in the database", rows.next(), is(true));
            assertThat(rows.getString(1), is("4.20"));
        }
        var ready = client.get("/observe/health/ready").request(String.class);
        assertThat(ready.status(), is(Status.OK_200));
        assertThat(ready.entity(), containsString("\"name\":\"database\""));

        // The pool fills up to its size and no further, also under more demand than it holds: 3,
        // not the default 10.
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (connections(database) < 3 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Status>> reads = new ArrayList<>();
            for (int i = 0; i < 30; i++) {
                reads.add(executor.submit(() -> client.get("/invoices").request(String.class).status()));
            }
            for (Future<Status> read : reads) {
                assertThat(read.get(), is(Status.OK_200));
            }
        }
        assertThat(connections(database), is(3));
    }

    @Test
    void aWrongPasswordStopsTheServiceWithAClearMessage() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        startMain(Map.of("DB_URL", database.url(), "DB_USER", TestPostgres.USER, "DB_PASSWORD", "wrong-password"));

        assertThat("the service exits", process.waitFor(60, TimeUnit.SECONDS), is(true));
        assertThat(process.exitValue(), is(1));
        String all = String.join("\n", output);
        assertThat(all, containsString("invoice-app cannot start: cannot connect to the invoice database (url="
                + database.url() + ", user=" + TestPostgres.USER));
        assertThat(all, containsString("password authentication failed for user \"invoice_app\""));
        assertThat(all, not(containsString("wrong-password")));
        assertThat(all, not(containsString("listening on port")));
    }

    @Test
    void withoutDbUrlTheInvoicesStayInMemory() throws Exception {
        startMain(Map.of("DB_USER", TestPostgres.USER));

        Matcher listening = started.get(60, TimeUnit.SECONDS);
        assertThat(listening.group(2), startsWith("in-memory, "));
        WebClient client = WebClient.builder().baseUri("http://127.0.0.1:" + listening.group(1)).build();
        var ready = client.get("/observe/health/ready").request(String.class);
        assertThat(ready.status(), is(Status.OK_200));
        assertThat(ready.entity(), not(containsString("database")));
    }
}
