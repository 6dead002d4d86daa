package dev.paymesh.invoice;

import java.util.Optional;

import io.helidon.common.uri.UriQuery;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObjectBuilder;

import dev.paymesh.support.BodyReader;
import dev.paymesh.support.InvalidRequestException;
import dev.paymesh.support.Json;
import dev.paymesh.support.JsonResponses;

/**
 * The invoices API: list, look up, create, and pay all unpaid ones.
 *
 * @param store        where the invoices are
 * @param payRun       pays the unpaid ones
 * @param maxBodyBytes the largest body of a new invoice
 */
record InvoiceService(InvoiceStore store, PayRun payRun, int maxBodyBytes) implements HttpService {

    private static final Handler METHOD_NOT_ALLOWED = JsonResponses.methodNotAllowed(JsonResponses.PathShown.WHOLE);

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::list)
                .post("/", this::create)
                .any("/", METHOD_NOT_ALLOWED)
                .post("/pay", this::pay)
                .any("/pay", METHOD_NOT_ALLOWED)
                .get("/{id}", this::find)
                .any("/{id}", METHOD_NOT_ALLOWED);
    }

    private void list(ServerRequest request, ServerResponse response) {
        // query().first(..) converts through Helidon's global mappers, which Helidon 4.4 looks up in
        // its service registry on every call: half of this handler's time under load.
        UriQuery query = request.query();
        Optional<Boolean> paid = query.contains("paid") ? Optional.of(paidFilter(query.get("paid"))) : Optional.empty();
        // Written as text, not built as JSON-P objects: the same bytes (InvoiceJsonTest) for less.
        StringBuilder json = new StringBuilder(256).append('[');
        for (Invoice invoice : store.list(paid)) {
            if (json.length() > 1) {
                json.append(',');
            }
            invoice.appendJson(json);
        }
        JsonResponses.send(response, Status.OK_200, json.append(']').toString());
    }

    private static Boolean paidFilter(String value) {
        return switch (value) {
            case "true" -> Boolean.TRUE;
            case "false" -> Boolean.FALSE;
            default -> throw new InvalidRequestException("paid must be true or false, got '" + value + "'");
        };
    }

    private void find(ServerRequest request, ServerResponse response) {
        String id = request.path().pathParameters().get("id");
        store.find(id).ifPresentOrElse(
                invoice -> JsonResponses.send(response, Status.OK_200, invoice.jsonText()),
                () -> JsonResponses.error(response, Status.NOT_FOUND_404, "invoice not found"));
    }

    private void create(ServerRequest request, ServerResponse response) {
        Invoice invoice = InvoiceRequestParser.parse(BodyReader.read(request, maxBodyBytes));
        if (!store.create(invoice)) {
            JsonResponses.error(response, Status.CONFLICT_409, "invoice " + invoice.id() + " already exists");
            return;
        }
        response.header(HeaderNames.LOCATION, "/invoices/" + invoice.id());
        JsonResponses.send(response, Status.CREATED_201, invoice.jsonText());
    }

    private void pay(ServerRequest request, ServerResponse response) throws InterruptedException {
        PayRun.Report report = payRun.payAllUnpaid(request.headers());
        JsonArrayBuilder paid = Json.array();
        report.paid().stream().sorted().forEach(paid::add);
        JsonArrayBuilder failed = Json.array();
        for (PayRun.Failure failure : report.failed()) {
            JsonObjectBuilder entry = Json.object()
                    .add("InvoiceId", failure.invoiceId())
                    .add("error", failure.error());
            failed.add(entry);
        }
        // A store that could not record an outcome is the more urgent news: 503 over 502.
        Status status = report.storeUnavailable() ? Status.SERVICE_UNAVAILABLE_503
                : report.failed().isEmpty() ? Status.OK_200 : Status.BAD_GATEWAY_502;
        JsonResponses.send(response, status, Json.object()
                .add("paid", paid)
                .add("failed", failed)
                .build());
    }

}
