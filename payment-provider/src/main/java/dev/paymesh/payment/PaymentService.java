package dev.paymesh.payment;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

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
import dev.paymesh.support.StoreUnavailableException;

/**
 * The payments API: record a payment once per invoice id, one at a time or a batch in one request,
 * and look one up.
 *
 * @param store        where the payments are
 * @param maxBodyBytes the largest body of a payment
 * @param metrics      counts what recording did
 */
record PaymentService(PaymentStore store, int maxBodyBytes, PaymentMetrics metrics) implements HttpService {

    private static final Logger LOGGER = Logger.getLogger(PaymentService.class.getName());

    private static final Handler METHOD_NOT_ALLOWED = JsonResponses.methodNotAllowed(JsonResponses.PathShown.WITHIN_SERVICE);

    /** The 503 answer while the payment database is away. */
    static final String STORE_UNAVAILABLE = "payment store unavailable; retry later, a retried payment is charged at most once";

    /** The largest body of a batch: {@value PaymentRequestParser#MAX_BATCH} payments with ids of up to 255 characters fit. */
    static final int MAX_BATCH_BODY_BYTES = 512 * 1024;

    @Override
    public void routing(HttpRules rules) {
        rules.post("/pay", this::pay)
                .any("/pay", METHOD_NOT_ALLOWED)
                .post("/pay/batch", this::payBatch)
                .any("/pay/batch", METHOD_NOT_ALLOWED)
                .get("/{id}", this::find)
                .any("/{id}", METHOD_NOT_ALLOWED);
    }

    private void pay(ServerRequest request, ServerResponse response) {
        Payment payment = PaymentRequestParser.parse(BodyReader.read(request, maxBodyBytes));
        PaymentStore.Outcome outcome = store.record(payment);
        metrics.recorded(outcome);
        if (outcome == PaymentStore.Outcome.CONFLICT) {
            JsonResponses.error(response, Status.CONFLICT_409, conflict(payment.id()));
            return;
        }
        JsonResponses.send(response, Status.OK_200, JsonText.object("id", payment.id()));
    }

    /**
     * Records a batch: each payment as {@code POST /pay} would, answered 200 with one element per
     * payment in the request's order: {@code {"id","status"}} and, for any status but 200, the
     * {@code error} the single request would have answered. Only a body that is no batch at all is a
     * 400 for the whole request, and a database away for every payment of it a 503.
     */
    private void payBatch(ServerRequest request, ServerResponse response) {
        List<PaymentRequestParser.Item> items =
                PaymentRequestParser.parseBatch(BodyReader.read(request, MAX_BATCH_BODY_BYTES));
        List<Payment> payments = new ArrayList<>(items.size());
        for (PaymentRequestParser.Item item : items) {
            if (item.payment() != null) {
                payments.add(item.payment());
            }
        }
        List<PaymentStore.Recorded> recorded = payments.isEmpty() ? List.of() : store.recordAll(payments);
        if (!recorded.isEmpty() && recorded.stream().allMatch(one -> one.failure() instanceof StoreUnavailableException)) {
            throw (StoreUnavailableException) recorded.getFirst().failure();
        }
        Iterator<PaymentStore.Recorded> outcomes = recorded.iterator();
        StringBuilder out = new StringBuilder(items.size() * 40).append('[');
        for (PaymentRequestParser.Item item : items) {
            if (out.length() > 1) {
                out.append(',');
            }
            out.append('{');
            if (item.id() != null) {
                JsonText.string(JsonText.name(out, "id"), item.id()).append(',');
            }
            if (item.payment() == null) {
                element(out, Status.BAD_REQUEST_400, item.error());
                continue;
            }
            PaymentStore.Recorded one = outcomes.next();
            if (one.failure() instanceof StoreUnavailableException) {
                element(out, Status.SERVICE_UNAVAILABLE_503, STORE_UNAVAILABLE);
            } else if (one.failure() != null) {
                LOGGER.log(Level.WARNING, "recording payment " + item.id() + " of a batch failed", one.failure());
                element(out, Status.INTERNAL_SERVER_ERROR_500, "internal error; see the service log");
            } else {
                metrics.recorded(one.outcome());
                element(out, one.outcome() == PaymentStore.Outcome.CONFLICT ? Status.CONFLICT_409 : Status.OK_200,
                        one.outcome() == PaymentStore.Outcome.CONFLICT ? conflict(item.id()) : null);
            }
        }
        JsonResponses.send(response, Status.OK_200, out.append(']').toString());
    }

    /** Ends one element of a batch's answer: its status and, unless 200, its error. */
    private static void element(StringBuilder out, Status status, String error) {
        JsonText.name(out, "status").append(status.code());
        if (error != null) {
            JsonText.string(JsonText.name(out.append(','), "error"), error);
        }
        out.append('}');
    }

    private static String conflict(String id) {
        return "payment " + id + " was already made with another value or currency";
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
