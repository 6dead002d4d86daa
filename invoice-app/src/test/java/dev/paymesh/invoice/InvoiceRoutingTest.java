package dev.paymesh.invoice;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;

import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;
import io.helidon.http.Status;
import io.helidon.metrics.api.Metrics;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.testing.junit5.DirectClient;
import io.helidon.webserver.testing.junit5.RoutingTest;
import io.helidon.webserver.testing.junit5.SetUpRoute;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.paymesh.support.StoreUnavailableException;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.endsWith;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.startsWith;

/**
 * The invoices API through the real routing. payment-provider is replaced by a scripted client here,
 * at the edge only; the system tests pay through the real one.
 */
@RoutingTest
class InvoiceRoutingTest {

    /** payment.claim-lease-seconds of application.yaml. */
    private static final Duration LEASE = Duration.ofSeconds(60);

    /** Answers each invoice id as scripted; unscripted ids are paid. */
    static final class ScriptedPaymentClient implements PaymentClient {
        final ConcurrentMap<String, Result> script = new ConcurrentHashMap<>();
        final ConcurrentMap<String, Result> reconciliation = new ConcurrentHashMap<>();
        final AtomicInteger payCalls = new AtomicInteger();
        final ConcurrentMap<String, AtomicInteger> paysPerId = new ConcurrentHashMap<>();
        final ConcurrentMap<String, AtomicInteger> lookupsPerId = new ConcurrentHashMap<>();
        volatile Headers lastHeaders;
        /** Runs inside each payment, before it is answered. */
        volatile java.util.function.Consumer<String> duringPay = id -> { };

        @Override
        public Result pay(Invoice invoice, Headers incoming) {
            duringPay.accept(invoice.id());
            payCalls.incrementAndGet();
            paysPerId.computeIfAbsent(invoice.id(), id -> new AtomicInteger()).incrementAndGet();
            lastHeaders = incoming;
            return script.getOrDefault(invoice.id(), new Result.Paid());
        }

        @Override
        public Result reconcile(Invoice invoice, Headers incoming) {
            lookupsPerId.computeIfAbsent(invoice.id(), id -> new AtomicInteger()).incrementAndGet();
            return reconciliation.getOrDefault(invoice.id(), new Result.NotPaid("no payment"));
        }
    }

    private static final ScriptedPaymentClient PROVIDER = new ScriptedPaymentClient();
    private static final PayRunLog PAY_RUNS = new InMemoryPayRunLog();
    private static InvoiceStore store = InMemoryInvoiceStore.seeded(LEASE, Clock.systemUTC());
    private static volatile boolean storeDown;

    private final DirectClient client;

    InvoiceRoutingTest(DirectClient client) {
        this.client = client;
    }

    @SetUpRoute
    static void routing(HttpRouting.Builder routing) {
        // Batches of two, so that the seed's three invoices take two claims.
        new InvoiceApp(new DelegatingStore(), PAY_RUNS, PROVIDER, TestApps.payRunSettings(4, LEASE, 2), 256,
                Metrics.globalRegistry(), "invoice-app").routing(routing);
    }

    @BeforeEach
    void freshState() {
        store = InMemoryInvoiceStore.seeded(LEASE, Clock.systemUTC());
        PROVIDER.script.clear();
        PROVIDER.reconciliation.clear();
        PROVIDER.payCalls.set(0);
        PROVIDER.paysPerId.clear();
        PROVIDER.lookupsPerId.clear();
        PROVIDER.lastHeaders = null;
        PROVIDER.duringPay = id -> { };
        storeDown = false;
    }

    private static int count(ConcurrentMap<String, AtomicInteger> counts, String id) {
        AtomicInteger count = counts.get(id);
        return count == null ? 0 : count.get();
    }

    @Test
    void listsTheSeedInTheOriginalShape() {
        var response = client.get("/invoices").request(String.class);
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("[{\"InvoiceId\":\"I1\",\"Value\":12.15,\"Currency\":\"EUR\",\"IsPaid\":false},"
                + "{\"InvoiceId\":\"I2\",\"Value\":10.25,\"Currency\":\"GBP\",\"IsPaid\":false},"
                + "{\"InvoiceId\":\"I3\",\"Value\":66.13,\"Currency\":\"DKK\",\"IsPaid\":false}]"));
    }

    @Test
    void paysAllUnpaidAndReportsThem() {
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\"],\"failed\":[]}"));
        assertThat(client.get("/invoices").queryParam("paid", "false").request(String.class).entity(), is("[]"));
        assertThat(client.get("/invoices/I2").request(String.class).entity(), containsString("\"IsPaid\":true"));
        var again = client.post("/invoices/pay").request(String.class);
        assertThat(again.entity(), is("{\"paid\":[],\"failed\":[]}"));
        assertThat(PROVIDER.payCalls.get(), is(3));
    }

    @Test
    void anUnreachableProviderLeavesTheInvoiceUnpaidAndAnswers502() {
        PROVIDER.script.put("I2", new PaymentClient.Result.NotPaid("payment-provider unreachable: boom"));
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.BAD_GATEWAY_502));
        assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I3\"],\"failed\":[{\"InvoiceId\":\"I2\","
                + "\"error\":\"payment-provider unreachable: boom\"}]}"));
        assertThat(client.get("/invoices").queryParam("paid", "false").request(String.class).entity(),
                containsString("\"InvoiceId\":\"I2\""));
        PROVIDER.script.clear();
        assertThat(client.post("/invoices/pay").request(String.class).entity(), is("{\"paid\":[\"I2\"],\"failed\":[]}"));
    }

    @Test
    void aProviderErrorIsLookedUpBeforeTheInvoiceIsReleasedForTheNextRun() {
        PROVIDER.script.put("I2", new PaymentClient.Result.Unknown("payment-provider answered 503: busy"));
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.BAD_GATEWAY_502));
        assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I3\"],\"failed\":[{\"InvoiceId\":\"I2\","
                + "\"error\":\"payment-provider answered 503: busy; payment-provider has no payment for it\"}]}"));
        assertThat(count(PROVIDER.lookupsPerId, "I2"), is(1));
        assertThat(count(PROVIDER.lookupsPerId, "I1"), is(0));

        // The lookup found nothing, so the next run pays it without asking again.
        PROVIDER.script.clear();
        assertThat(client.post("/invoices/pay").request(String.class).entity(), is("{\"paid\":[\"I2\"],\"failed\":[]}"));
        assertThat(count(PROVIDER.lookupsPerId, "I2"), is(1));
        assertThat(count(PROVIDER.paysPerId, "I2"), is(2));
    }

    @Test
    void aProviderErrorWhosePaymentWasRecordedIsPaidWithoutResending() {
        PROVIDER.script.put("I3", new PaymentClient.Result.Unknown("payment-provider answered 500: late failure"));
        PROVIDER.reconciliation.put("I3", new PaymentClient.Result.Paid());
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\"],\"failed\":[]}"));
        assertThat(count(PROVIDER.lookupsPerId, "I3"), is(1));
        assertThat(count(PROVIDER.paysPerId, "I3"), is(1));
    }

    @Test
    void aRefusalIsReportedAsPermanentAndNotResentByLaterRuns() {
        PROVIDER.script.put("I1", new PaymentClient.Result.Refused("payment-provider answered 409: conflict"));
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.BAD_GATEWAY_502));
        assertThat(response.entity(), is("{\"paid\":[\"I2\",\"I3\"],\"failed\":[{\"InvoiceId\":\"I1\","
                + "\"error\":\"" + PayRun.REFUSED + "payment-provider answered 409: conflict\"}]}"));
        assertThat(count(PROVIDER.lookupsPerId, "I1"), is(0));

        PROVIDER.script.clear();
        var next = client.post("/invoices/pay").request(String.class);
        assertThat(next.status(), is(Status.OK_200));
        assertThat(next.entity(), is("{\"paid\":[],\"failed\":[]}"));
        assertThat(count(PROVIDER.paysPerId, "I1"), is(1));
        assertThat(client.get("/invoices/I1").request(String.class).entity(), containsString("\"IsPaid\":false"));
        assertThat(store.find("I1").orElseThrow().state(), is(Invoice.State.REFUSED));
    }

    @Test
    void aTimedOutPaymentThatWasRecordedIsReconciledAsPaid() {
        PROVIDER.script.put("I1", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        PROVIDER.reconciliation.put("I1", new PaymentClient.Result.Paid());
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.OK_200));
        assertThat(client.get("/invoices/I1").request(String.class).entity(), containsString("\"IsPaid\":true"));
        // Paid because the lookup said so, not because the payment was sent again.
        assertThat(count(PROVIDER.lookupsPerId, "I1"), is(1));
        assertThat(count(PROVIDER.paysPerId, "I1"), is(1));
        assertThat(count(PROVIDER.lookupsPerId, "I2"), is(0));
    }

    @Test
    void aTimedOutPaymentThatCannotBeReconciledStaysUnpaid() {
        PROVIDER.script.put("I3", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        PROVIDER.reconciliation.put("I3", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.BAD_GATEWAY_502));
        assertThat(count(PROVIDER.lookupsPerId, "I3"), is(1));
        assertThat(response.entity(), containsString("checked on the next run"));
        assertThat(client.get("/invoices/I3").request(String.class).entity(), containsString("\"IsPaid\":false"));
    }

    @Test
    void anUnknownOutcomeIsLookedUpFirstOnTheNextRunAndNotPaidAgainWhenRecorded() {
        PROVIDER.script.put("I1", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        PROVIDER.reconciliation.put("I1", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        assertThat(client.post("/invoices/pay").request(String.class).status(), is(Status.BAD_GATEWAY_502));
        assertThat(count(PROVIDER.lookupsPerId, "I1"), is(1));

        // The late answer did reach payment-provider: the next run finds the payment and sends none.
        PROVIDER.script.clear();
        PROVIDER.reconciliation.put("I1", new PaymentClient.Result.Paid());
        var next = client.post("/invoices/pay").request(String.class);
        assertThat(next.status(), is(Status.OK_200));
        assertThat(next.entity(), is("{\"paid\":[\"I1\"],\"failed\":[]}"));
        assertThat(count(PROVIDER.paysPerId, "I1"), is(1));
        assertThat(count(PROVIDER.lookupsPerId, "I1"), is(2));
        assertThat(client.get("/invoices/I1").request(String.class).entity(), containsString("\"IsPaid\":true"));
    }

    @Test
    void anUnknownOutcomeTheProviderNeverRecordedIsPaidAfterTheLookup() {
        PROVIDER.script.put("I2", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        PROVIDER.reconciliation.put("I2", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        client.post("/invoices/pay").request(String.class);

        PROVIDER.script.clear();
        PROVIDER.reconciliation.put("I2", new PaymentClient.Result.NotPaid("payment-provider has no payment for it"));
        var next = client.post("/invoices/pay").request(String.class);
        assertThat(next.entity(), is("{\"paid\":[\"I2\"],\"failed\":[]}"));
        assertThat(count(PROVIDER.lookupsPerId, "I2"), is(2));
        assertThat(count(PROVIDER.paysPerId, "I2"), is(2));
    }

    @Test
    void aLookupWithoutAnAnswerKeepsTheInvoiceUnpaidAndSendsNoPayment() {
        PROVIDER.script.put("I3", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        PROVIDER.reconciliation.put("I3", new PaymentClient.Result.Unknown("payment-provider did not answer in time"));
        client.post("/invoices/pay").request(String.class);
        var next = client.post("/invoices/pay").request(String.class);
        assertThat(next.status(), is(Status.BAD_GATEWAY_502));
        assertThat(next.entity(), containsString("{\"InvoiceId\":\"I3\",\"error\":\"payment-provider did not answer"));
        assertThat(count(PROVIDER.paysPerId, "I3"), is(1));
        assertThat(client.get("/invoices/I3").request(String.class).entity(), containsString("\"IsPaid\":false"));
    }

    @Test
    void anUnavailableStoreAnswers503InJsonWithoutDetails() {
        storeDown = true;
        for (var response : java.util.List.of(
                client.get("/invoices").request(String.class),
                client.get("/invoices").queryParam("limit", "2").request(String.class),
                client.get("/invoices/I1").request(String.class),
                client.post("/invoices").submit("{\"Value\":1,\"Currency\":\"EUR\"}", String.class),
                client.post("/invoices/pay").request(String.class))) {
            assertThat(response.status(), is(Status.SERVICE_UNAVAILABLE_503));
            assertThat(response.entity(), is("{\"error\":\"the invoice database is unavailable; try again later\"}"));
            assertThat(response.headers().first(HeaderNames.RETRY_AFTER).orElseThrow(), is("5"));
        }
    }

    @Test
    void aStoreLostInTheMiddleOfARunAnswers503AndKeepsTheClaims() {
        // The database goes away while the first batch (I1, I2) is at the provider: nothing can be recorded.
        PROVIDER.duringPay = id -> storeDown = true;
        var response = client.post("/invoices/pay").request(String.class);
        assertThat(response.status(), is(Status.SERVICE_UNAVAILABLE_503));
        // Whichever payment went first was charged and could not be recorded.
        assertThat(response.entity(), containsString("\"error\":\"paid at payment-provider, but "
                + "the invoice database is unavailable"));
        assertThat(response.entity(), startsWith("{\"paid\":[],"));
        assertThat(response.entity(), endsWith(",\"unfinished\":\"the invoice database became unavailable during the run;"
                + " the invoices it did not reach are left to the next run\"}"));
        storeDown = false;
        PROVIDER.duringPay = id -> { };
        int sent = PROVIDER.payCalls.get();
        // What the run claimed stays claimed: no run sends it again before the lease runs out and a
        // lookup comes first. The first batch certainly; the second (I3) if the run claimed it
        // before it found the database gone.
        java.util.List<String> claimed = java.util.stream.Stream.of("I1", "I2", "I3")
                .filter(id -> store.find(id).orElseThrow().state() == Invoice.State.PAYING).toList();
        assertThat(claimed.containsAll(java.util.List.of("I1", "I2")), is(true));
        java.util.List<String> left = java.util.stream.Stream.of("I1", "I2", "I3").filter(id -> !claimed.contains(id)).toList();
        var next = client.post("/invoices/pay").request(String.class);
        assertThat(next.entity(), is("{\"paid\":" + left.stream().map(id -> "\"" + id + "\"").toList().toString()
                .replace(" ", "") + ",\"failed\":[]}"));
        assertThat(PROVIDER.payCalls.get(), is(sent + left.size()));
        for (String id : java.util.List.of("I1", "I2", "I3")) {
            assertThat(id + " sent once", count(PROVIDER.paysPerId, id) <= 1, is(true));
        }
    }

    @Test
    void payingWithPreferRespondAsyncAnswers202AndThePayRunIsPolledToTheSameAnswer() throws Exception {
        PROVIDER.script.put("I2", new PaymentClient.Result.NotPaid("payment-provider unreachable: boom"));
        var accepted = client.post("/invoices/pay").header(HeaderNames.create("Prefer"), "respond-async, wait=5")
                .request(String.class);
        assertThat(accepted.status(), is(Status.ACCEPTED_202));
        assertThat(accepted.headers().first(HeaderNames.create("Preference-Applied")).orElseThrow(), is("respond-async"));
        String location = accepted.headers().first(HeaderNames.LOCATION).orElseThrow();
        assertThat(location, location.matches("/invoices/pay-runs/[0-9a-f-]{36}"), is(true));
        String id = location.substring("/invoices/pay-runs/".length());
        assertThat(accepted.entity(), is("{\"id\":\"" + id + "\",\"state\":\"running\"}"));

        String done = pollUntilDone(location);
        assertThat(done, is("{\"id\":\"" + id + "\",\"state\":\"done\",\"status\":502,\"paid\":[\"I1\",\"I3\"],"
                + "\"failed\":[{\"InvoiceId\":\"I2\",\"error\":\"payment-provider unreachable: boom\"}]}"));
        assertThat(store.find("I1").orElseThrow().isPaid(), is(true));
        assertThat(PROVIDER.payCalls.get(), is(3));
    }

    @Test
    void aRunningPayRunShowsItsProgress() throws Exception {
        java.util.concurrent.CountDownLatch letGo = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch i3Reached = new java.util.concurrent.CountDownLatch(1);
        PROVIDER.duringPay = id -> {
            if (id.equals("I3")) {
                i3Reached.countDown();
                try {
                    letGo.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        String location = client.post("/invoices/pay").header(HeaderNames.create("Prefer"), "respond-async")
                .request(String.class).headers().first(HeaderNames.LOCATION).orElseThrow();
        // The first batch (I1, I2) is settled; I3, the second, is at the provider.
        assertThat(i3Reached.await(10, java.util.concurrent.TimeUnit.SECONDS), is(true));
        var running = client.get(location).request(String.class);
        assertThat(running.status(), is(Status.OK_200));
        assertThat(running.entity(), endsWith("\"state\":\"running\",\"progress\":{\"paid\":2,\"failed\":0}}"));
        assertThat(running.headers().first(HeaderNames.RETRY_AFTER).orElseThrow(), is("1"));
        letGo.countDown();
        assertThat(pollUntilDone(location), endsWith("\"status\":200,\"paid\":[\"I1\",\"I2\",\"I3\"],\"failed\":[]}"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {"return=minimal", "respond-asynchronously", "handling=strict; respond-async"})
    void otherPreferencesGetTheSynchronousAnswer(String prefer) {
        var response = client.post("/invoices/pay").header(HeaderNames.create("Prefer"), prefer).request(String.class);
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"paid\":[\"I1\",\"I2\",\"I3\"],\"failed\":[]}"));
    }

    @Test
    void anUnknownPayRunIs404() {
        var response = client.get("/invoices/pay-runs/nope").request(String.class);
        assertThat(response.status(), is(Status.NOT_FOUND_404));
        assertThat(response.entity(), is("{\"error\":\"pay run not found\"}"));
        assertThat(client.delete("/invoices/pay-runs/nope").request(String.class).status(), is(Status.METHOD_NOT_ALLOWED_405));
    }

    private String pollUntilDone(String location) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            var polled = client.get(location).request(String.class);
            assertThat(polled.status(), is(Status.OK_200));
            if (polled.entity().contains("\"state\":\"done\"")) {
                return polled.entity();
            }
            Thread.sleep(20);
        }
        throw new AssertionError("the pay run at " + location + " did not end within 10 s");
    }

    @Test
    void tracingHeadersReachThePaymentClient() {
        client.post("/invoices/pay").header(HeaderNames.create("x-request-id"), "abc-123").request(String.class);
        assertThat(PROVIDER.lastHeaders.first(HeaderNames.create("x-request-id")).orElseThrow(), is("abc-123"));
    }

    @Test
    void filtersByPaid() {
        PROVIDER.script.put("I1", new PaymentClient.Result.NotPaid("no"));
        client.post("/invoices/pay").request(String.class);
        assertThat(client.get("/invoices").queryParam("paid", "false").request(String.class).entity(),
                is("[{\"InvoiceId\":\"I1\",\"Value\":12.15,\"Currency\":\"EUR\",\"IsPaid\":false}]"));
        assertThat(client.get("/invoices").queryParam("paid", "true").request(String.class).entity(),
                startsWith("[{\"InvoiceId\":\"I2\""));
        var bad = client.get("/invoices").queryParam("paid", "yes").request(String.class);
        assertThat(bad.status(), is(Status.BAD_REQUEST_400));
        assertThat(bad.entity(), containsString("paid must be true or false"));
    }

    private static final String I1 = "{\"InvoiceId\":\"I1\",\"Value\":12.15,\"Currency\":\"EUR\",\"IsPaid\":false}";
    private static final String I2 = "{\"InvoiceId\":\"I2\",\"Value\":10.25,\"Currency\":\"GBP\",\"IsPaid\":false}";
    private static final String I3 = "{\"InvoiceId\":\"I3\",\"Value\":66.13,\"Currency\":\"DKK\",\"IsPaid\":false}";

    @Test
    void theWholeListHasNoLink() {
        var response = client.get("/invoices").request(String.class);
        assertThat(response.entity(), is("[" + I1 + "," + I2 + "," + I3 + "]"));
        assertThat(response.headers().contains(HeaderNames.LINK), is(false));
    }

    @Test
    void pagesFollowTheNextLinkToTheEnd() {
        var first = client.get("/invoices").queryParam("limit", "2").request(String.class);
        assertThat(first.status(), is(Status.OK_200));
        assertThat(first.entity(), is("[" + I1 + "," + I2 + "]"));
        assertThat(first.headers().first(HeaderNames.LINK).orElseThrow(), is("</invoices?limit=2&after=I2>; rel=\"next\""));
        var last = client.get("/invoices").queryParam("limit", "2").queryParam("after", "I2").request(String.class);
        assertThat(last.status(), is(Status.OK_200));
        assertThat(last.entity(), is("[" + I3 + "]"));
        assertThat(last.headers().contains(HeaderNames.LINK), is(false));
    }

    @Test
    void aPageThatEndsTheListExactlyHasNoLink() {
        var all = client.get("/invoices").queryParam("limit", "3").request(String.class);
        assertThat(all.entity(), is("[" + I1 + "," + I2 + "," + I3 + "]"));
        assertThat(all.headers().contains(HeaderNames.LINK), is(false));
        var most = client.get("/invoices").queryParam("limit", "1000").request(String.class);
        assertThat(most.entity(), is(all.entity()));
        assertThat(most.headers().contains(HeaderNames.LINK), is(false));
        var beyond = client.get("/invoices").queryParam("limit", "2").queryParam("after", "I3").request(String.class);
        assertThat(beyond.status(), is(Status.OK_200));
        assertThat(beyond.entity(), is("[]"));
        assertThat(beyond.headers().contains(HeaderNames.LINK), is(false));
    }

    @Test
    void pagesOfTheFilteredListCarryTheFilterInTheirLink() {
        PROVIDER.script.put("I2", new PaymentClient.Result.NotPaid("no"));
        client.post("/invoices/pay").request(String.class);
        String paidI1 = I1.replace("false", "true");
        String paidI3 = I3.replace("false", "true");
        var first = client.get("/invoices").queryParam("paid", "true").queryParam("limit", "1").request(String.class);
        assertThat(first.entity(), is("[" + paidI1 + "]"));
        assertThat(first.headers().first(HeaderNames.LINK).orElseThrow(),
                is("</invoices?limit=1&after=I1&paid=true>; rel=\"next\""));
        var second = client.get("/invoices").queryParam("limit", "1").queryParam("after", "I1").queryParam("paid", "true")
                .request(String.class);
        assertThat(second.entity(), is("[" + paidI3 + "]"));
        assertThat("I3 is the last paid invoice", second.headers().contains(HeaderNames.LINK), is(false));
        var unpaid = client.get("/invoices").queryParam("limit", "1").queryParam("paid", "false").request(String.class);
        assertThat(unpaid.entity(), is("[" + I2 + "]"));
        assertThat(unpaid.headers().contains(HeaderNames.LINK), is(false));
    }

    @Test
    void theNextLinkEncodesAnIdThatIsNotUrlSafe() {
        // An id new invoices may not have, as a row written into the database by other means may hold.
        store.create(new Invoice("I2 b/é&x", java.math.BigDecimal.ONE, java.util.Currency.getInstance("EUR"),
                Invoice.State.UNPAID));
        var first = client.get("/invoices").queryParam("limit", "2").queryParam("after", "I1").request(String.class);
        assertThat(first.entity(), is("[" + I2 + ",{\"InvoiceId\":\"I2 b/é&x\",\"Value\":1.00,\"Currency\":\"EUR\","
                + "\"IsPaid\":false}]"));
        String link = first.headers().first(HeaderNames.LINK).orElseThrow();
        assertThat(link, is("</invoices?limit=2&after=I2%20b%2F%C3%A9%26x>; rel=\"next\""));
        var next = client.get("/invoices");
        queryParameters(link.substring(link.indexOf('?') + 1, link.indexOf('>')))
                .forEach((name, values) -> next.queryParam(name, values.toArray(String[]::new)));
        assertThat(next.request(String.class).entity(), is("[" + I3 + "]"));
    }

    @Test
    void afterAloneAnswersTheRestOfTheList() {
        var response = client.get("/invoices").queryParam("after", "I1").request(String.class);
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("[" + I2 + "," + I3 + "]"));
        assertThat(response.headers().contains(HeaderNames.LINK), is(false));
        assertThat(client.get("/invoices").queryParam("after", "I15").queryParam("paid", "false").request(String.class)
                .entity(), is("[" + I2 + "," + I3 + "]"));
    }

    /** The parameters of a query such as {@code a=1&b=x%2Fy&a=2}, decoded, each name with its values in order. */
    static java.util.Map<String, java.util.List<String>> queryParameters(String query) {
        java.util.Map<String, java.util.List<String>> parameters = new java.util.LinkedHashMap<>();
        for (String pair : query.split("&")) {
            String[] nameAndValue = pair.split("=", 2);
            parameters.computeIfAbsent(nameAndValue[0], name -> new java.util.ArrayList<>())
                    .add(java.net.URLDecoder.decode(nameAndValue[1], java.nio.charset.StandardCharsets.UTF_8));
        }
        return parameters;
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "limit=0|{\"error\":\"limit must be a whole number from 1 to 1000, got '0'\"}",
            "limit=1001|{\"error\":\"limit must be a whole number from 1 to 1000, got '1001'\"}",
            "limit=-1|{\"error\":\"limit must be a whole number from 1 to 1000, got '-1'\"}",
            "limit=%2B5|{\"error\":\"limit must be a whole number from 1 to 1000, got '+5'\"}",
            "limit=2.0|{\"error\":\"limit must be a whole number from 1 to 1000, got '2.0'\"}",
            "limit=ten|{\"error\":\"limit must be a whole number from 1 to 1000, got 'ten'\"}",
            "limit=99999999999|{\"error\":\"limit must be a whole number from 1 to 1000, got '99999999999'\"}",
            "limit=|{\"error\":\"limit must be a whole number from 1 to 1000, got ''\"}",
            "limit=2&limit=3|{\"error\":\"limit must be given once, got 2 values\"}",
            "limit=2&paid=yes|{\"error\":\"paid must be true or false, got 'yes'\"}",
            "limit=2&after=a%00b|{\"error\":\"after must be an invoice id of 1 to 64 characters, got 'a\\u0000b'\"}",
            "after=|{\"error\":\"after must be an invoice id of 1 to 64 characters, got ''\"}",
            "after=12345678901234567890123456789012345678901234567890123456789012345|{\"error\":\"after must be an invoice id of 1 to 64 characters, got '12345678901234567890123456789012345678901234567890123456789012345'\"}",
            "after=I1&after=I2|{\"error\":\"after must be given once, got 2 values\"}"})
    void badPagingParametersAre400NamingTheParameter(String query, String body) {
        var request = client.get("/invoices");
        queryParameters(query).forEach((name, values) -> request.queryParam(name, values.toArray(String[]::new)));
        var response = request.request(String.class);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), is(body));
        assertThat(response.headers().contains(HeaderNames.LINK), is(false));
    }

    @Test
    void unknownInvoiceIsNotFound() {
        var response = client.get("/invoices/nope").request(String.class);
        assertThat(response.status(), is(Status.NOT_FOUND_404));
        assertThat(response.entity(), is("{\"error\":\"invoice not found\"}"));
    }

    @Test
    void createsAnInvoice() {
        var response = client.post("/invoices").submit("{\"InvoiceId\":\"N1\",\"Value\":7.50,\"Currency\":\"EUR\"}", String.class);
        assertThat(response.status(), is(Status.CREATED_201));
        assertThat(response.headers().first(HeaderNames.LOCATION).orElseThrow(), is("/invoices/N1"));
        assertThat(response.entity(), is("{\"InvoiceId\":\"N1\",\"Value\":7.50,\"Currency\":\"EUR\",\"IsPaid\":false}"));
        var duplicate = client.post("/invoices").submit("{\"InvoiceId\":\"N1\",\"Value\":1,\"Currency\":\"EUR\"}", String.class);
        assertThat(duplicate.status(), is(Status.CONFLICT_409));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "1E+3|EUR|1000.00",
            "12.1500000|EUR|12.15",
            "1500.00|JPY|1500",
            "1.125|KWD|1.125",
            "7|XAU|7.00"})
    void createsAnInvoiceInItsCurrencysMinorUnits(String value, String currency, String answered) {
        var response = client.post("/invoices").submit("{\"InvoiceId\":\"M-" + currency + "\",\"Value\":" + value
                + ",\"Currency\":\"" + currency + "\"}", String.class);
        String expected = "{\"InvoiceId\":\"M-" + currency + "\",\"Value\":" + answered + ",\"Currency\":\""
                + currency + "\",\"IsPaid\":false}";
        assertThat(response.status(), is(Status.CREATED_201));
        assertThat(response.entity(), is(expected));
        assertThat(client.get("/invoices/M-" + currency).request(String.class).entity(), is(expected));
    }

    @Test
    void createsAnInvoiceWithAGeneratedId() {
        var response = client.post("/invoices").submit("{\"Value\":3,\"Currency\":\"GBP\"}", String.class);
        assertThat(response.status(), is(Status.CREATED_201));
        assertThat(response.headers().first(HeaderNames.LOCATION).orElseThrow(), startsWith("/invoices/INV-"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "not json|the body is not valid JSON",
            "[]|the body must be a JSON object",
            "{\"Currency\":\"EUR\"}|Value is required",
            "{\"Value\":\"12\",\"Currency\":\"EUR\"}|Value must be a JSON number",
            "{\"Value\":-1,\"Currency\":\"EUR\"}|Value must be greater than 0",
            "{\"Value\":1.001,\"Currency\":\"EUR\"}|Value must have at most 2 decimal places",
            "{\"Value\":12.155,\"Currency\":\"EUR\"}|Value must have at most 2 decimal places for EUR",
            "{\"Value\":1.5,\"Currency\":\"JPY\"}|Value must be a whole number of JPY, which has no minor unit",
            "{\"Value\":1.0005,\"Currency\":\"KWD\"}|Value must have at most 3 decimal places for KWD",
            "{\"Value\":1000000000000000,\"Currency\":\"EUR\"}|Value must be less than 1000000000000000",
            "{\"Value\":1E+15,\"Currency\":\"JPY\"}|Value must be less than 1000000000000000",
            "{\"Value\":1}|Currency is required",
            "{\"Value\":1,\"Currency\":\"EURO\"}|Currency must be an ISO 4217 code",
            "{\"Value\":1,\"Currency\":5}|Currency must be an ISO 4217 code",
            "{\"InvoiceId\":7,\"Value\":1,\"Currency\":\"EUR\"}|InvoiceId must be a string",
            "{\"InvoiceId\":\"a/b\",\"Value\":1,\"Currency\":\"EUR\"}|InvoiceId must be a string",
            "{\"Value\":1,\"Currency\":\"EUR\",\"IsPaid\":true}|unknown field 'IsPaid'"})
    void badInvoicesAreRefusedNamingTheField(String body, String message) {
        var response = client.post("/invoices").submit(body, String.class);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), startsWith("{\"error\":\"" + message));
    }

    @Test
    void hugeBodyIs413() {
        var response = client.post("/invoices").submit("{\"Value\":1,\"Currency\":\"EUR\",\"x\":\"" + "y".repeat(300) + "\"}", String.class);
        assertThat(response.status(), is(Status.REQUEST_ENTITY_TOO_LARGE_413));
        assertThat(response.entity(), startsWith("{\"error\":"));
    }

    @Test
    void wrongMethodsAndUnknownPathsAnswerJson() {
        var wrongMethod = client.delete("/invoices").request(String.class);
        assertThat(wrongMethod.status(), is(Status.METHOD_NOT_ALLOWED_405));
        assertThat(wrongMethod.entity(), is("{\"error\":\"method DELETE is not allowed on /invoices\"}"));
        assertThat(client.get("/invoices/pay").request(String.class).status(), is(Status.METHOD_NOT_ALLOWED_405));
        var unknown = client.get("/payments/pay").request(String.class);
        assertThat(unknown.status(), is(Status.NOT_FOUND_404));
        assertThat(unknown.entity(), startsWith("{\"error\":"));
    }

    /** Lets each test start from a fresh seeded store while the routing is built once per class; it can also be down. */
    private static final class DelegatingStore implements InvoiceStore {
        private static InvoiceStore store() {
            if (storeDown) {
                throw new StoreUnavailableException("cannot read invoices: the invoice database is unavailable (test)",
                        null);
            }
            return store;
        }

        @Override
        public java.util.List<Invoice> list(java.util.Optional<Boolean> paid) {
            return store().list(paid);
        }

        @Override
        public java.util.List<Invoice> list(java.util.Optional<Boolean> paid, java.util.Optional<String> after, int limit) {
            return store().list(paid, after, limit);
        }

        @Override
        public java.util.Optional<Invoice> find(String id) {
            return store().find(id);
        }

        @Override
        public boolean create(Invoice invoice) {
            return store().create(invoice);
        }

        @Override
        public java.util.List<Claimed> claimUnpaid(String owner, String after, int limit) {
            return store().claimUnpaid(owner, after, limit);
        }

        @Override
        public java.util.Set<String> renew(String owner, java.util.Collection<String> ids) {
            return store().renew(owner, ids);
        }

        @Override
        public java.util.Set<String> settle(String owner, java.util.Map<String, Settlement> settlements) {
            return store().settle(owner, settlements);
        }
    }

}
