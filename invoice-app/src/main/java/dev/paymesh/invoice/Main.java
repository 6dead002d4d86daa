package dev.paymesh.invoice;

import java.time.Clock;
import java.util.List;
import java.util.Optional;

import io.helidon.config.Config;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.webserver.WebServer;

import dev.paymesh.support.Credentials;
import dev.paymesh.support.Database;
import dev.paymesh.support.DatabaseSettings;
import dev.paymesh.support.Services;

/**
 * Starts invoice-app: configuration from application.yaml, overridden by environment variables.
 * With {@code db.url} set the invoices live in PostgreSQL, otherwise in memory.
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        Services.main("invoice-app", Main::start);
    }

    /**
     * Builds and starts the server described by the configuration; port 0 picks a free port. Throws,
     * having released what it opened, when a configured database cannot be reached or migrated.
     */
    public static WebServer start(Config config) {
        var provider = HttpPaymentClient.Settings.from(config.get("payment.provider"));
        var payRun = PayRun.Settings.from(config.get("payment"), provider);
        int maxBodyBytes = config.get("invoices.max-body-bytes").asInt().get();
        // The database connects and its schema is checked while the client and the meters are set up.
        var opening = DatabaseSettings.from(config.get("db"))
                .map(settings -> Database.openInBackground(settings, "invoice", "invoice-app"));
        HttpPaymentClient client = new HttpPaymentClient(provider);
        MeterRegistry meters = Services.registry();
        Optional<Database> database;
        try {
            database = opening.map(Database::await);
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
        InvoiceStore store = database.<InvoiceStore>map(db -> new JdbcInvoiceStore(db.dataSource(), payRun.claimLease()))
                .orElseGet(() -> InMemoryInvoiceStore.seeded(payRun.claimLease(), Clock.systemUTC()));
        PayRunLog payRuns = database.<PayRunLog>map(db -> new JdbcPayRunLog(db.dataSource(), payRun.claimLease()))
                .orElseGet(InMemoryPayRunLog::new);
        var app = new InvoiceApp(store, payRuns, client, payRun, maxBodyBytes, meters,
                System.getenv().getOrDefault("HOSTNAME", "invoice-app"));
        return Services.serve(config, "invoice-app", database, app::routing, "payment.provider.url=" + Credentials.masked(provider.url())
                + ", connect-timeout=" + provider.connectTimeout().toMillis() + "ms, read-timeout="
                + provider.readTimeout().toMillis() + "ms, batch-size=" + provider.batchSize() + ", payment.max-in-flight=" + payRun.maxInFlight()
                + ", payment.claim-lease-seconds=" + payRun.claimLease().toSeconds() + ", payment.claim-batch="
                + payRun.claimBatch() + ", payment.sync-run-budget-seconds=" + payRun.syncBudget().toSeconds() + ", max body " + maxBodyBytes
                + " bytes", List.of(client));
    }
}
