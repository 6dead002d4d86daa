package dev.paymesh.invoice;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;

import io.helidon.common.uri.UriQuery;
import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;
import io.helidon.http.Status;
import io.helidon.http.WritableHeaders;
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
import dev.paymesh.support.JsonText;

/**
 * The invoices API: list (whole or by pages), look up, create, and pay all unpaid ones, synchronously
 * or, asked with {@code Prefer: respond-async}, in the background with a pay-run resource to poll.
 *
 * @param store        where the invoices are
 * @param payRun       pays the unpaid ones
 * @param payRuns      the asynchronous runs, for polling
 * @param maxBodyBytes the largest body of a new invoice
 * @param background   the runs in the background, stopped with the server
 */
record InvoiceService(InvoiceStore store, PayRun payRun, PayRunLog payRuns, int maxBodyBytes, BackgroundRuns background)
        implements HttpService {

    private static final Logger LOGGER = Logger.getLogger(InvoiceService.class.getName());
    /** The largest page {@code GET /invoices?limit=} answers. */
    static final int MAX_LIMIT = 1000;
    private static final Pattern LIMIT = Pattern.compile("[0-9]{1,9}");
    private static final Handler METHOD_NOT_ALLOWED = JsonResponses.methodNotAllowed(JsonResponses.PathShown.WHOLE);
    private static final HeaderName PREFER = HeaderNames.create("Prefer");
    private static final HeaderName PREFERENCE_APPLIED = HeaderNames.create("Preference-Applied");
    private static final String PAY_RUNS = "/invoices/pay-runs/";
    /**
     * How long a stop waits for the background runs: what the pods' 30 s termination grace leaves
     * after the server's own 20 s for requests, less a margin. A run still going after it loses its
     * database and leaves its claims to their lease, as a killed replica's would.
     */
    static final Duration BACKGROUND_STOP = Duration.ofSeconds(8);

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::list)
                .post("/", this::create)
                .any("/", METHOD_NOT_ALLOWED)
                .post("/pay", this::pay)
                .any("/pay", METHOD_NOT_ALLOWED)
                .get("/pay-runs/{id}", this::payRunState)
                .any("/pay-runs/{id}", METHOD_NOT_ALLOWED)
                .get("/{id}", this::find)
                .any("/{id}", METHOD_NOT_ALLOWED);
    }

    /**
     * The server has stopped taking requests: the background runs are interrupted and waited for
     * before the database closes (Helidon stops the services before the features, the database's
     * closing among them), for up to {@link #BACKGROUND_STOP}.
     */
    @Override
    public void afterStop() {
        background.stop(BACKGROUND_STOP);
    }

    private void list(ServerRequest request, ServerResponse response) {
        // query().first(..) converts through Helidon's global mappers, which Helidon 4.4 looks up in
        // its service registry on every call: half of this handler's time under load.
        UriQuery query = request.query();
        Optional<Boolean> paid = query.contains("paid") ? Optional.of(paidFilter(query.get("paid"))) : Optional.empty();
        Optional<String> after = query.contains("after") ? Optional.of(afterId(query)) : Optional.empty();
        if (!query.contains("limit")) {
            // The whole list, or with after alone every invoice after that id, in one answer.
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
        if (prefersAsync(request.headers())) {
            payInBackground(request, response);
            return;
        }
        Answer answer = answer(payRun.payAllUnpaid(request.headers()));
        JsonResponses.send(response, answer.status(), answer.json());
    }

    /** The status and JSON text of a run's answer, kept as they are for a background run. */
    private record Answer(Status status, String json) { }

    private Answer answer(PayRun.Report report) {
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
        JsonObjectBuilder answer = Json.object()
                .add("paid", paid)
                .add("failed", failed);
        if (report.unfinished() != null) {
            answer.add("unfinished", unfinished(report.unfinished()));
        }
        return new Answer(status, answer.build().toString());
    }

    /** True when the request's Prefer header (RFC 7240) holds the respond-async preference. */
    static boolean prefersAsync(Headers headers) {
        for (String value : headers.values(PREFER)) {
            for (String preference : value.split(",")) {
                String token = preference.split("[;=]", 2)[0].strip();
                if (token.equalsIgnoreCase("respond-async")) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Answers 202 at once with where to poll, and pays in a thread of its own with no time budget,
     * writing its progress after every batch and its answer at the end.
     */
    private void payInBackground(ServerRequest request, ServerResponse response) {
        String id = UUID.randomUUID().toString();
        payRuns.started(id); // a database that is away answers 503 here, and nothing starts
        // The request's headers are not ours once it is answered; the tracing ones go on with the run.
        WritableHeaders<?> forwarded = WritableHeaders.create();
        request.headers().forEach(forwarded::set);
        if (!background.start("pay-run-" + id, () -> runInBackground(id, forwarded))) {
            record(() -> payRuns.interrupted(id), id);
            JsonResponses.error(response, Status.SERVICE_UNAVAILABLE_503, "invoice-app is stopping; pay again");
            return;
        }
        response.header(HeaderNames.LOCATION, PAY_RUNS + id);
        response.header(PREFERENCE_APPLIED, "respond-async");
        JsonResponses.send(response, Status.ACCEPTED_202, runState(id, PayRunLog.State.RUNNING).append('}').toString());
    }

    private void runInBackground(String id, Headers forwarded) {
        try {
            PayRun.Report report = payRun.payAllUnpaid(id, forwarded, null, (paid, failed) -> {
                try {
                    payRuns.progressed(id, paid, failed);
                } catch (RuntimeException e) {
                    LOGGER.log(Level.FINE, "could not record the progress of pay run " + id, e);
                }
            });
            Answer answer = answer(report);
            payRuns.finished(id, report.paid().size(), report.failed().size(), answer.status().code(), answer.json());
        } catch (InterruptedException e) {
            LOGGER.info(() -> "pay run " + id + " was interrupted; its claims return to the next run");
            record(() -> payRuns.interrupted(id), id);
        } catch (RuntimeException e) {
            // The first claim found the database away, or the answer could not be written: the run
            // shows as interrupted once it has been silent for two leases.
            LOGGER.log(Level.WARNING, "pay run " + id + " ended without an answer", e);
            record(() -> payRuns.interrupted(id), id);
        }
    }

    private static void record(Runnable write, String id) {
        try {
            write.run();
        } catch (RuntimeException e) {
            LOGGER.log(Level.FINE, "could not record the end of pay run " + id, e);
        }
    }

    /**
     * A background run: 200 with its state and progress while it runs; once done, also the status
     * and the paid and failed lists its synchronous answer would have had; 404 when unknown.
     */
    private void payRunState(ServerRequest request, ServerResponse response) {
        String id = request.path().pathParameters().get("id");
        Optional<PayRunLog.Run> found = payRuns.find(id);
        if (found.isEmpty()) {
            JsonResponses.error(response, Status.NOT_FOUND_404, "pay run not found");
            return;
        }
        PayRunLog.Run run = found.get();
        StringBuilder json = runState(id, run.state());
        if (run.state() == PayRunLog.State.DONE) {
            // The kept answer is an object: its members follow the run's own.
            json.append(",\"status\":").append(run.status()).append(',').append(run.answer(), 1, run.answer().length());
        } else {
            json.append(",\"progress\":{\"paid\":").append(run.paid()).append(",\"failed\":").append(run.failed()).append("}}");
            if (run.state() == PayRunLog.State.RUNNING) {
                response.header(HeaderNames.RETRY_AFTER, "1");
            }
        }
        JsonResponses.send(response, Status.OK_200, json.toString());
    }

    /** {@code {"id":...,"state":...} without its closing brace. */
    private static StringBuilder runState(String id, PayRunLog.State state) {
        StringBuilder json = new StringBuilder(128).append("{\"id\":");
        JsonText.string(json, id).append(",\"state\":");
        return JsonText.string(json, state.name().toLowerCase(Locale.ROOT));
    }

    /** Why a run left invoices it never reached: only then does its answer carry "unfinished". */
    private String unfinished(PayRun.Unfinished why) {
        return switch (why) {
            case TIME_BUDGET -> "the run stopped claiming after " + payRun.settings().syncBudget().toSeconds()
                    + " s; the invoices it did not reach are still unpaid: pay again, or with Prefer: respond-async";
            case STORE_DOWN -> "the invoice database became unavailable during the run; the invoices it did not"
                    + " reach are left to the next run";
        };
    }

}
