package dev.paymesh.invoice;

import java.util.Optional;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.spi.JsonProvider;

/** The invoices API: list, look up, create, and pay all unpaid ones. */
final class InvoiceService implements HttpService {

    // Looked up once: each Json.createX call would search the service loader again.
    private static final JsonProvider JSON = JsonProvider.provider();

    private final InvoiceStore store;
    private final PayRun payRun;
    private final int maxBodyBytes;

    InvoiceService(InvoiceStore store, PayRun payRun, int maxBodyBytes) {
        this.store = store;
        this.payRun = payRun;
        this.maxBodyBytes = maxBodyBytes;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::list)
                .post("/", this::create)
                .any("/", InvoiceService::methodNotAllowed)
                .post("/pay", this::pay)
                .any("/pay", InvoiceService::methodNotAllowed)
                .get("/{id}", this::find)
                .any("/{id}", InvoiceService::methodNotAllowed);
    }

    private void list(ServerRequest request, ServerResponse response) {
        Optional<Boolean> paid = request.query().first("paid").asOptional().map(InvoiceService::paidFilter);
        JsonArrayBuilder array = JSON.createArrayBuilder();
        store.list(paid).forEach(invoice -> array.add(invoice.toJson()));
        response.header(HeaderNames.CONTENT_TYPE, "application/json");
        response.send(array.build().toString());
    }

    private static Boolean paidFilter(String value) {
        return switch (value) {
            case "true" -> Boolean.TRUE;
            case "false" -> Boolean.FALSE;
            default -> throw new BadRequestException("paid must be true or false, got '" + value + "'");
        };
    }

    private void find(ServerRequest request, ServerResponse response) {
        String id = request.path().pathParameters().get("id");
        store.find(id).ifPresentOrElse(
                invoice -> JsonResponses.send(response, Status.OK_200, invoice.toJson()),
                () -> JsonResponses.error(response, Status.NOT_FOUND_404, "invoice not found"));
    }

    private void create(ServerRequest request, ServerResponse response) {
        Invoice invoice = InvoiceRequestParser.parse(BodyReader.read(request, maxBodyBytes));
        if (!store.create(invoice)) {
            JsonResponses.error(response, Status.CONFLICT_409, "invoice " + invoice.id() + " already exists");
            return;
        }
        response.header(HeaderNames.LOCATION, "/invoices/" + invoice.id());
        JsonResponses.send(response, Status.CREATED_201, invoice.toJson());
    }

    private void pay(ServerRequest request, ServerResponse response) throws InterruptedException {
        PayRun.Report report = payRun.payAllUnpaid(request.headers());
        JsonArrayBuilder paid = JSON.createArrayBuilder();
        report.paid().stream().sorted().forEach(paid::add);
        JsonArrayBuilder failed = JSON.createArrayBuilder();
        for (PayRun.Failure failure : report.failed()) {
            JsonObjectBuilder entry = JSON.createObjectBuilder()
                    .add("InvoiceId", failure.invoiceId())
                    .add("error", failure.error());
            failed.add(entry);
        }
        // A store that could not record an outcome is the more urgent news: 503 over 502.
        Status status = report.storeUnavailable() ? Status.SERVICE_UNAVAILABLE_503
                : report.failed().isEmpty() ? Status.OK_200 : Status.BAD_GATEWAY_502;
        JsonResponses.send(response, status, JSON.createObjectBuilder()
                .add("paid", paid)
                .add("failed", failed)
                .build());
    }

    static void methodNotAllowed(ServerRequest request, ServerResponse response) {
        JsonResponses.error(response, Status.METHOD_NOT_ALLOWED_405,
                "method " + request.prologue().method().text() + " is not allowed on " + request.path().absolute().path());
    }

}
