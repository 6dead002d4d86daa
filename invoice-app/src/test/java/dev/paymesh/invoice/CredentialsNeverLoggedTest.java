package dev.paymesh.invoice;

import java.util.HashMap;
import java.util.Map;

import io.helidon.http.Status;
import io.helidon.webserver.WebServer;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.ServiceConfig;
import dev.paymesh.support.StartupException;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Passwords an operator writes into payment.provider.url or db.url appear in no log line and no
 * answer, whether the service starts, pays or fails to start.
 */
class CredentialsNeverLoggedTest {

    private static final String PROVIDER_SECRET = "provider-secret-7";
    private static final String URL_SECRET = "db-url-secret-9";

    @Test
    void aRunningReplicaNeverShowsThePasswordsInItsUrls() throws Exception {
        TestPostgres.Database database = TestPostgres.newDatabase();
        try (CapturedLog log = CapturedLog.open()) {
            // Both ways of writing the password into the database URL, the right one last so the driver uses it.
            String dbUrl = database.url() + "?user=" + TestPostgres.USER + "&sslpassword=" + URL_SECRET
                    + "&password=" + TestPostgres.PASSWORD;
            // Nothing listens on port 9: every payment fails, and its error names where it went.
            WebServer replica = TestApps.start(dbUrl, "http://payer:" + PROVIDER_SECRET + "@127.0.0.1:9", Map.of());
            try {
                var run = TestApps.pay(TestApps.client(replica));
                assertThat(run.status(), is(Status.BAD_GATEWAY_502));
                assertThat(run.entity(), containsString("payment-provider unreachable at http://payer:***@127.0.0.1:9"));
                assertThat(run.entity(), not(containsString(PROVIDER_SECRET)));
            } finally {
                replica.stop();
            }
            assertThat("the start-up line was logged", log.texts().stream()
                    .anyMatch(text -> text.contains("payment.provider.url=http://payer:***@127.0.0.1:9")
                            && text.contains("password=***")), is(true));
            assertThat(log.texts(), everyItem(not(containsString(PROVIDER_SECRET))));
            assertThat(log.texts(), everyItem(not(containsString(URL_SECRET))));
            assertThat(log.texts(), everyItem(not(containsString(TestPostgres.PASSWORD))));
        }
    }

    /** A database URL with {@code user:password@} before the host, and db.password set to something else. */
    private static Map<String, String> withUserInfo(TestPostgres.Database database, String password) {
        String dbUrl = database.url().replace("jdbc:postgresql://", "jdbc:postgresql://" + TestPostgres.USER + ":"
                + password + "@");
        return new HashMap<>(Map.of(
                "server.port", "0", "server.host", "127.0.0.1",
                "db.url", dbUrl,
                "db.password", "not-the-one-used",
                "db.startup-wait-seconds", "0"));
    }

    @Test
    void aPasswordWrittenBeforeTheHostIsUsedAndNeverShown() {
        try (CapturedLog log = CapturedLog.open()) {
            WebServer replica = Main.start(ServiceConfig.over(Main.class,
                    withUserInfo(TestPostgres.newDatabase(), TestPostgres.PASSWORD)));
            try {
                assertThat(TestApps.client(replica).get("/invoices/I1").request(String.class).status(), is(Status.OK_200));
            } finally {
                replica.stop();
            }
            assertThat(log.texts(), everyItem(not(containsString(TestPostgres.PASSWORD))));
        }
    }

    @Test
    void aReplicaThatCannotStartNeverShowsThePasswordInTheDatabaseUrl() {
        Map<String, String> config = withUserInfo(TestPostgres.newDatabase(), URL_SECRET);
        try (CapturedLog log = CapturedLog.open()) {
            StartupException failed = assertThrows(StartupException.class,
                    () -> Main.start(ServiceConfig.over(Main.class, config)));
            assertThat(failed.getMessage(), containsString("password authentication failed for user \"invoice_app\""));
            assertThat(failed.getMessage(), not(containsString(URL_SECRET)));
            assertThat(log.texts(), everyItem(not(containsString(URL_SECRET))));
        }
    }
}
