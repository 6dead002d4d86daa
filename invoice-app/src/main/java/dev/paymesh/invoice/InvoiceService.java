package dev.paymesh.invoice;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

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
 * The invoices API: list (whole or by pages), look up, create, and pay all unpaid ones.
 *
 * @param store        where the invoices are
 * @param payRun       pays the unpaid ones
 * @param maxBodyBytes the largest body of a new invoice
 */
record InvoiceService(InvoiceStore store, PayRun payRun, int maxBodyBytes) implements HttpService {

    /** The largest page {@code GET /invoices?limit=} answers. */
    static final int MAX_LIMIT = 1000;
    private static final Pattern LIMIT = Pattern.compile("[0-9]{1,9}");
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
        if (!query.contains("limit") && !query.contains("after")) {
            JsonResponses.send(response, Status.OK_200, jsonArray(store.list(paid)));
            return;
        }
        Optional<String> after = query.contains("after") ? Optional.of(afterId(query)) : Optional.empty();
        if (!query.contains("limit")) {
            // after alone: every invoice after that id, the rest of the list in one answer.
            JsonResponses.send(response, Status.OK_200, jsonArray(store.list(paid, after, Integer.MAX_VALUE)));
            return;
        }
        int limit = limit(query);
        // One more than the page: whether more remain is known without another read.
        List<Invoice> invoices = store.list(paid, after, limit + 1);
        if (invoices.size() > limit) {
            invoices = invoices.subList(0, limit);
            response.header(HeaderNames.LINK, nextLink(limit, invoices.getLast().id(), paid));
        }
        JsonResponses.send(response, Status.OK_200, jsonArray(invoices));
    }

    /**
     * The invoices as a JSON array in UTF-8: the same bytes as JSON-P's array of their objects
     * (InvoiceJsonTest), made from each invoice's own JSON into one array of the exact size. Written
     * after the store's read returned, so no lock of the store is held meanwhile.
     */
    static byte[] jsonArray(List<Invoice> invoices) {
        int size = Math.max(2, invoices.size() + 1);
        for (Invoice invoice : invoices) {
            size += invoice.jsonLength();
        }
        byte[] json = new byte[size];
        int at = 0;
        json[at++] = '[';
        for (Invoice invoice : invoices) {
            if (at > 1) {
                json[at++] = ',';
            }
            at = invoice.copyJson(json, at);
        }
        json[at] = ']';
        return json;
    }

    private static int limit(UriQuery query) {
        String value = single(query, "limit");
        if (!LIMIT.matcher(value).matches() || Integer.parseInt(value) < 1 || Integer.parseInt(value) > MAX_LIMIT) {
            throw new InvalidRequestException("limit must be a whole number from 1 to " + MAX_LIMIT + ", got '" + value + "'");
        }
        return Integer.parseInt(value);
    }

    private static String afterId(UriQuery query) {
        // Not held to the pattern of new ids: a row written into the database by other means may
        // hold any id of up to 64 characters, and a next link must still lead past it. Control
        // characters are refused (PostgreSQL takes no NUL in a string).
        String value = single(query, "after");
        if (value.isEmpty() || value.length() > 64 || value.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw new InvalidRequestException("after must be an invoice id of 1 to 64 characters, got '" + value + "'");
        }
        return value;
    }

    private static String single(UriQuery query, String name) {
        List<String> values = query.all(name);
        if (values.size() > 1) {
            throw new InvalidRequestException(name + " must be given once, got " + values.size() + " values");
        }
        return values.getFirst();
    }

    /** The next page's link, relative to the server as the Location of a new invoice is; RFC 8288. */
    private static String nextLink(int limit, String lastId, Optional<Boolean> paid) {
        // URLEncoder writes a space as '+', which not every reader of a query decodes as a space.
        return "</invoices?limit=" + limit + "&after=" + URLEncoder.encode(lastId, StandardCharsets.UTF_8).replace("+", "%20")
                + paid.map(wanted -> "&paid=" + wanted).orElse("") + ">; rel=\"next\"";
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
