package dev.paymesh.invoice;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.Status;
import io.helidon.webclient.api.ClientResponseTyped;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;

import jakarta.json.JsonObject;
import jakarta.json.JsonString;

import dev.paymesh.support.Json;
import dev.paymesh.support.ServiceConfig;

/** Whole invoice-app servers on 127.0.0.1 for tests, configured as a deployment would configure them. */
final class TestApps {

    private TestApps() {
    }

    /** A replica on a free port, storing in the database, paying through the provider. */
    static WebServer start(String dbUrl, String providerUrl, Map<String, String> more) {
        Map<String, String> config = new HashMap<>(Map.of(
                "server.port", "0",
                "server.host", "127.0.0.1",
                "payment.provider.url", providerUrl,
                "payment.provider.connect-timeout-millis", "500",
                "payment.provider.read-timeout-millis", "2000",
                "db.url", dbUrl,
                "db.user", TestPostgres.USER,
                "db.password", TestPostgres.PASSWORD,
                "db.pool.max-size", "5",
                "db.pool.connection-timeout-millis", "500"));
        config.putAll(more);
        return Main.start(ServiceConfig.over(Main.class, config));
    }

    /**
     * Pay-run settings for a test: {@code maxInFlight}, the lease and the batch size as given, one
     * payment at most 14 s (application.yaml's timeouts) and a minute's budget for a synchronous run.
     */
    static PayRun.Settings payRunSettings(int maxInFlight, Duration lease, int claimBatch) {
        return new PayRun.Settings(maxInFlight, lease, claimBatch, Duration.ofSeconds(14), Duration.ofSeconds(60));
    }

    static WebClient client(WebServer server) {
        return WebClient.builder()
                .baseUri("http://127.0.0.1:" + server.port())
                .readTimeout(Duration.ofSeconds(30))
                .build();
    }

    static Status create(WebClient client, String id, String value) {
        return client.post("/invoices").contentType(MediaTypes.APPLICATION_JSON)
                .submit("{\"InvoiceId\":\"" + id + "\",\"Value\":" + value + ",\"Currency\":\"EUR\"}", String.class)
                .status();
    }

    static ClientResponseTyped<String> pay(WebClient client) {
        return client.post("/invoices/pay").request(String.class);
    }

    /** The ids in the "paid" list of a pay run's answer. */
    static List<String> paidIds(String body) {
        JsonObject json = Json.reader(body).readObject();
        return json.getJsonArray("paid").getValuesAs(JsonString.class).stream().map(JsonString::getString).toList();
    }

    /** Waits up to 10 s for the invoice to reach the state, which a run in another thread brings about. */
    static void awaitState(InvoiceStore store, String id, Invoice.State state) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (store.find(id).orElseThrow().state() != state) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(id + " never became " + state);
            }
            Thread.sleep(5);
        }
    }
}
