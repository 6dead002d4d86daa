package dev.paymesh.payment;

import io.helidon.http.Status;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import jakarta.json.JsonObject;

import dev.paymesh.support.BodyReader;
import dev.paymesh.support.Json;
import dev.paymesh.support.JsonResponses;
import dev.paymesh.support.JsonText;

/**
 * The payments API: record a payment once per invoice id, and look one up.
 *
 * @param store        where the payments are
 * @param maxBodyBytes the largest body of a payment
 * @param metrics      counts what recording did
 */
record PaymentService(PaymentStore store, int maxBodyBytes, PaymentMetrics metrics) implements HttpService {

    private static final Handler METHOD_NOT_ALLOWED = JsonResponses.methodNotAllowed(JsonResponses.PathShown.WITHIN_SERVICE);

    @Override
    public void routing(HttpRules rules) {
        rules.post("/pay", this::pay)
                .any("/pay", METHOD_NOT_ALLOWED)
                .get("/{id}", this::find)
                .any("/{id}", METHOD_NOT_ALLOWED);
    }

    private void pay(ServerRequest request, ServerResponse response) {
        Payment payment = PaymentRequestParser.parse(BodyReader.read(request, maxBodyBytes));
        PaymentStore.Outcome outcome = store.record(payment);
        metrics.recorded(outcome);
        if (outcome == PaymentStore.Outcome.CONFLICT) {
            JsonResponses.error(response, Status.CONFLICT_409,
                    "payment " + payment.id() + " was already made with another value or currency");
            return;
        }
        JsonResponses.send(response, Status.OK_200, JsonText.object("id", payment.id()));
    }

    private void find(ServerRequest request, ServerResponse response) {
        String id = request.path().pathParameters().get("id");
        store.find(id).ifPresentOrElse(
                payment -> JsonResponses.send(response, Status.OK_200, toJson(payment)),
                () -> JsonResponses.error(response, Status.NOT_FOUND_404, "payment not found"));
    }

    static JsonObject toJson(Payment payment) {
        return Json.object()
                .add("id", payment.id())
                .add("value", payment.value())
                .add("currency", payment.currency().getCurrencyCode())
                .build();
    }
}
