package dev.paymesh.payment;

import io.helidon.metrics.api.MeterRegistry;
import io.helidon.webserver.http.HttpRouting;

import dev.paymesh.support.ServiceRouting;

/**
 * payment-provider's parts, wired in one place: the store and the body limit; {@link #routing} puts
 * them behind {@code /payments}.
 *
 * @param store        where the payments are
 * @param maxBodyBytes the largest request body taken
 * @param registry     where the meters go
 */
record PaymentApp(PaymentStore store, int maxBodyBytes, MeterRegistry registry) {

    private static final ServiceRouting.Unavailable UNAVAILABLE = new ServiceRouting.Unavailable(
            PaymentService.STORE_UNAVAILABLE, 1);

    void routing(HttpRouting.Builder routing) {
        ServiceRouting.install(routing, registry, UNAVAILABLE);
        routing.register("/payments", new PaymentService(store, maxBodyBytes, new PaymentMetrics(registry)));
    }
}
