package dev.paymesh.payment;

import java.util.Optional;

import io.helidon.config.Config;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.webserver.WebServer;

import dev.paymesh.support.Database;
import dev.paymesh.support.DatabaseSettings;
import dev.paymesh.support.Services;

/**
 * Starts payment-provider: configuration from application.yaml, overridden by environment variables.
 * With {@code db.url} set payments live in PostgreSQL, otherwise in memory.
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        Services.main("payment-provider", Main::start);
    }

    /**
     * Builds and starts the server described by the configuration; port 0 picks a free port. Throws,
     * having released what it opened, when a configured database cannot be reached or migrated.
     */
    public static WebServer start(Config config) {
        int maxBodyBytes = config.get("payments.max-body-bytes").asInt().get();
        // The database connects and its schema is checked while the meters are set up.
        var opening = DatabaseSettings.from(config.get("db"))
                .map(settings -> Database.openInBackground(settings, "payment", "payment-provider"));
        MeterRegistry meters = Services.registry();
        Optional<Database> database = opening.map(Database::await);
        PaymentStore store = database.<PaymentStore>map(db -> new JdbcPaymentStore(db.dataSource(),
                        JdbcPaymentStore.writersFor(db.settings().maxPoolSize())))
                .orElseGet(InMemoryPaymentStore::new);
        var app = new PaymentApp(store, maxBodyBytes, meters);
        return Services.serve(config, "payment-provider", database, app::routing, "max body " + maxBodyBytes + " bytes");
    }
}
