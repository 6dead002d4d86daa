package dev.paymesh.payment;

import java.util.logging.Level;
import java.util.logging.Logger;

import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import jakarta.json.JsonObject;
import jakarta.json.spi.JsonProvider;

/** The payments API: record a payment once per invoice id, and look one up. */
final class PaymentService implements HttpService {

    // Looked up once: each Json.createX call would search the service loader again.
    private static final JsonProvider JSON = JsonProvider.provider();

    private static final Logger LOGGER = Logger.getLogger(PaymentService.class.getName());

    private final PaymentStore store;
    private final int maxBodyBytes;
    private final PaymentMetrics metrics;

    PaymentService(PaymentStore store, int maxBodyBytes, PaymentMetrics metrics) {
        this.store = store;
        this.maxBodyBytes = maxBodyBytes;
        this.metrics = metrics;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/pay", this::pay)
                .any("/pay", PaymentService::methodNotAllowed)
                .get("/{id}", this::find)
                .any("/{id}", PaymentService::methodNotAllowed);
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
        JsonResponses.send(response, Status.OK_200, JSON.createObjectBuilder().add("id", payment.id()).build());
    }

    private void find(ServerRequest request, ServerResponse response) {
        String id = request.path().pathParameters().get("id");
        store.find(id).ifPresentOrElse(
                payment -> JsonResponses.send(response, Status.OK_200, toJson(payment)),
                () -> JsonResponses.error(response, Status.NOT_FOUND_404, "payment not found"));
    }

    static JsonObject toJson(Payment payment) {
        return JSON.createObjectBuilder()
                .add("id", payment.id())
                .add("value", payment.value())
                .add("currency", payment.currency().getCurrencyCode())
                .build();
    }

    static void methodNotAllowed(ServerRequest request, ServerResponse response) {
        JsonResponses.error(response, Status.METHOD_NOT_ALLOWED_405,
                "method " + request.prologue().method().text() + " is not allowed on " + request.path().path());
    }

    static void log(Throwable error) {
        LOGGER.log(Level.WARNING, "request failed", error);
    }

    /** One line without the stack trace: during an outage every request fails the same known way. */
    static void logUnavailable(StoreUnavailableException error) {
        Throwable cause = error.getCause();
        LOGGER.warning(() -> error.getMessage() + (cause == null ? "" : ": " + cause.getMessage()));
    }
}
