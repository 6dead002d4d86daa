package dev.paymesh.invoice;

import io.helidon.metrics.api.MeterRegistry;
import io.helidon.webserver.http.HttpRouting;

import dev.paymesh.support.ServiceRouting;

/**
 * invoice-app's parts, wired in one place: the store, the client of payment-provider and the pay
 * run's limits; {@link #routing} puts them behind {@code /invoices}.
 *
 * @param store        where the invoices are
 * @param payRuns      the asynchronous pay runs, kept beside the invoices
 * @param client       payment-provider
 * @param payRun       the pay runs' settings
 * @param maxBodyBytes the largest request body taken
 * @param registry     where the meters go
 * @param instance     names this replica in the claims its pay runs take
 */
record InvoiceApp(InvoiceStore store, PayRunLog payRuns, PaymentClient client, PayRun.Settings payRun, int maxBodyBytes,
                  MeterRegistry registry, String instance) {

    private static final ServiceRouting.Unavailable UNAVAILABLE =
            new ServiceRouting.Unavailable("the invoice database is unavailable; try again later", 5);

    void routing(HttpRouting.Builder routing) {
        PayRun run = new PayRun(store, client, payRun, new PaymentMetrics(registry), instance);
        ServiceRouting.install(routing, registry, UNAVAILABLE);
        routing.register("/invoices", new InvoiceService(store, run, payRuns, maxBodyBytes, new BackgroundRuns()));
    }
}
