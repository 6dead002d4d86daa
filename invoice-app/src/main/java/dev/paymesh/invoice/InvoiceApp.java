package dev.paymesh.invoice;

import io.helidon.metrics.api.MeterRegistry;
import io.helidon.webserver.http.HttpRouting;

import dev.paymesh.support.ServiceRouting;

/**
 * invoice-app's parts, wired in one place: the store, the client of payment-provider and the pay
 * run's limits; {@link #routing} puts them behind {@code /invoices}.
 *
 * @param store        where the invoices are
 * @param client       payment-provider
 * @param maxInFlight  payments in flight at once in this replica, all its pay runs together
 * @param maxBodyBytes the largest request body taken
 * @param registry     where the meters go
 * @param instance     names this replica in the claims its pay runs take
 */
record InvoiceApp(InvoiceStore store, PaymentClient client, int maxInFlight, int maxBodyBytes,
                  MeterRegistry registry, String instance) {

    private static final ServiceRouting.Unavailable UNAVAILABLE =
            new ServiceRouting.Unavailable("the invoice database is unavailable; try again later", 5);

    void routing(HttpRouting.Builder routing) {
        PayRun payRun = new PayRun(store, client, maxInFlight, new PaymentMetrics(registry), instance);
        ServiceRouting.install(routing, registry, UNAVAILABLE);
        routing.register("/invoices", new InvoiceService(store, payRun, maxBodyBytes));
    }
}
