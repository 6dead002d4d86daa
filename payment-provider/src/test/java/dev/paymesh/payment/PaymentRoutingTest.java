package dev.paymesh.payment;

import io.helidon.http.Status;
import io.helidon.metrics.api.Counter;
import io.helidon.metrics.api.Metrics;
import io.helidon.metrics.api.Tag;
import io.helidon.webclient.api.ClientResponseTyped;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.testing.junit5.DirectClient;
import io.helidon.webserver.testing.junit5.RoutingTest;
import io.helidon.webserver.testing.junit5.SetUpRoute;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

/** Every row of the payment-provider contract, through the real routing, without a socket. */
@RoutingTest
class PaymentRoutingTest {

    private final DirectClient client;

    PaymentRoutingTest(DirectClient client) {
        this.client = client;
    }

    @SetUpRoute
    static void routing(HttpRouting.Builder routing) {
        new PaymentApp(new InMemoryPaymentStore(), 64, Metrics.globalRegistry()).routing(routing);
    }

    private ClientResponseTyped<String> pay(String body) {
        return client.post("/payments/pay").submit(body, String.class);
    }

    @Test
    void paysAndAnswersWithTheId() {
        var response = pay("{\"id\":\"I1\",\"value\":12.15,\"currency\":\"EUR\"}");
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"id\":\"I1\"}"));
    }

    @Test
    void matchesKeysCaseInsensitivelyAndIgnoresUnknownOnes() {
        var response = pay("{\"ID\":\"K1\",\"Value\":1,\"CURRENCY\":\"GBP\",\"note\":\"x\"}");
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"id\":\"K1\"}"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "not json", "[1,2]", "{\"id\":", "\"text\""})
    void malformedBodyGetsTheOriginalMessage(String body) {
        var response = pay(body);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), is("{\"error\":\"failed to process payment request parameters\"}"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "{\"value\":1,\"currency\":\"EUR\"}|could not retrieve payment id",
            "{\"id\":\"\",\"value\":1,\"currency\":\"EUR\"}|could not retrieve payment id",
            "{\"id\":\"I1\",\"currency\":\"EUR\"}|could not retrieve payment value",
            "{\"id\":\"I1\",\"value\":0,\"currency\":\"EUR\"}|could not retrieve payment value",
            "{\"id\":\"I1\",\"value\":1}|could not retrieve payment currency",
            "{\"id\":\"I1\",\"value\":1,\"currency\":\"\"}|could not retrieve payment currency"})
    void missingFieldsGetTheOriginalMessages(String body, String message) {
        var response = pay(body);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), is("{\"error\":\"" + message + "\"}"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "{\"id\":\"I1\",\"value\":-1,\"currency\":\"EUR\"}|payment value must be positive",
            "{\"id\":\"I1\",\"value\":\"12\",\"currency\":\"EUR\"}|payment value must be a JSON number",
            "{\"id\":\"I1\",\"value\":1.234,\"currency\":\"EUR\"}|payment value must have at most 2 decimal places",
            "{\"id\":\"I1\",\"value\":12.155,\"currency\":\"EUR\"}|payment value must have at most 2 decimal places for EUR",
            "{\"id\":\"I1\",\"value\":1.5,\"currency\":\"JPY\"}|payment value must be a whole number of JPY",
            "{\"id\":\"I1\",\"value\":1.0005,\"currency\":\"KWD\"}|payment value must have at most 3 decimal places for KWD",
            "{\"id\":\"I1\",\"value\":1E+15,\"currency\":\"EUR\"}|payment value must be less than 1000000000000000",
            "{\"id\":\"I1\",\"value\":1,\"currency\":\"EURO\"}|payment currency must be an ISO 4217 code",
            "{\"id\":\"I1\",\"value\":1,\"currency\":\"XYZ\"}|payment currency must be an ISO 4217 code",
            "{\"id\":7,\"value\":1,\"currency\":\"EUR\"}|payment id must be a JSON string"})
    void invalidFieldsAreNamed(String body, String message) {
        var response = pay(body);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), startsWith("{\"error\":\"" + message));
    }

    @Test
    void samePaymentTwiceIsChargedOnceAndAnswersTheSame() {
        long recordedBefore = payments("recorded");
        long alreadyBefore = payments("already_recorded");
        assertThat(pay("{\"id\":\"D1\",\"value\":5.10,\"currency\":\"EUR\"}").status(), is(Status.OK_200));
        var again = pay("{\"id\":\"D1\",\"value\":5.1,\"currency\":\"EUR\"}");
        assertThat(again.status(), is(Status.OK_200));
        assertThat(again.entity(), is("{\"id\":\"D1\"}"));
        // Charged by the first, a replay by the second: a store that recorded twice fails here.
        assertThat(payments("recorded") - recordedBefore, is(1L));
        assertThat(payments("already_recorded") - alreadyBefore, is(1L));
        assertThat(client.get("/payments/D1").request(String.class).entity(),
                is("{\"id\":\"D1\",\"value\":5.10,\"currency\":\"EUR\"}"));
    }

    /** What the {@code payments} counter of the outcome holds now, in the registry the app counts in. */
    static long payments(String outcome) {
        return Metrics.globalRegistry().getOrCreate(Counter.builder("payments")
                .addTag(Tag.create("outcome", outcome))).count();
    }

    @Test
    void sameIdWithAnotherAmountOrCurrencyIsAConflict() {
        assertThat(pay("{\"id\":\"C1\",\"value\":5,\"currency\":\"EUR\"}").status(), is(Status.OK_200));
        var otherValue = pay("{\"id\":\"C1\",\"value\":6,\"currency\":\"EUR\"}");
        assertThat(otherValue.status(), is(Status.CONFLICT_409));
        assertThat(otherValue.entity(), containsString("C1"));
        assertThat(pay("{\"id\":\"C1\",\"value\":5,\"currency\":\"GBP\"}").status(), is(Status.CONFLICT_409));
        var recorded = client.get("/payments/C1").request(String.class);
        assertThat(recorded.entity(), is("{\"id\":\"C1\",\"value\":5.00,\"currency\":\"EUR\"}"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "M1|1E+3|EUR|1000.00",
            "M2|12.1500000|EUR|12.15",
            "M3|1500.00|JPY|1500",
            "M4|1.125|KWD|1.125",
            "M5|7|XAU|7.00"})
    void anAmountIsRecordedInItsCurrencysMinorUnits(String id, String value, String currency, String recorded) {
        var paid = pay("{\"id\":\"" + id + "\",\"value\":" + value + ",\"currency\":\"" + currency + "\"}");
        assertThat(paid.entity(), paid.status(), is(Status.OK_200));
        assertThat(client.get("/payments/" + id).request(String.class).entity(),
                is("{\"id\":\"" + id + "\",\"value\":" + recorded + ",\"currency\":\"" + currency + "\"}"));
        // The same amount at another scale is the same payment, not a conflict.
        assertThat(pay("{\"id\":\"" + id + "\",\"value\":" + recorded + ",\"currency\":\"" + currency + "\"}").status(),
                is(Status.OK_200));
    }

    @Test
    void recordedPaymentCanBeLookedUpWithItsScale() {
        pay("{\"id\":\"G1\",\"value\":12.10,\"currency\":\"DKK\"}");
        var response = client.get("/payments/G1").request(String.class);
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("{\"id\":\"G1\",\"value\":12.10,\"currency\":\"DKK\"}"));
    }

    @Test
    void unknownPaymentIsNotFound() {
        var response = client.get("/payments/nope").request(String.class);
        assertThat(response.status(), is(Status.NOT_FOUND_404));
        assertThat(response.entity(), is("{\"error\":\"payment not found\"}"));
    }

    @Test
    void bodyOverTheLimitIsRefusedWithJson() {
        var response = pay("{\"id\":\"" + "x".repeat(100) + "\",\"value\":1,\"currency\":\"EUR\"}");
        assertThat(response.status(), is(Status.REQUEST_ENTITY_TOO_LARGE_413));
        assertThat(response.entity(), startsWith("{\"error\":"));
    }

    @Test
    void wrongMethodIsRefusedWithJson() {
        var response = client.get("/payments/pay").request(String.class);
        assertThat(response.status(), is(Status.METHOD_NOT_ALLOWED_405));
        // The path within /payments, as this service has always answered.
        assertThat(response.entity(), is("{\"error\":\"method GET is not allowed on /pay\"}"));
        assertThat(client.delete("/payments/G1").request(String.class).status(), is(Status.METHOD_NOT_ALLOWED_405));
        assertThat(client.get("/payments/pay/batch").request(String.class).entity(),
                is("{\"error\":\"method GET is not allowed on /pay/batch\"}"));
    }

    @Test
    void unknownPathIsNotFoundWithJson() {
        var response = client.get("/nothing/here").request(String.class);
        assertThat(response.status(), is(Status.NOT_FOUND_404));
        assertThat(response.entity(), startsWith("{\"error\":"));
        assertThat(response.entity(), not(containsString("Exception")));
    }

    private ClientResponseTyped<String> payBatch(String body) {
        return client.post("/payments/pay/batch").submit(body, String.class);
    }

    @Test
    void aBatchAnswersEachPaymentAsItsOwnRequestWouldInTheRequestsOrder() {
        assertThat(pay("{\"id\":\"B0\",\"value\":5,\"currency\":\"EUR\"}").status(), is(Status.OK_200));
        long recordedBefore = payments("recorded");
        long alreadyBefore = payments("already_recorded");
        long conflictBefore = payments("conflict");
        var response = payBatch("[{\"id\":\"B2\",\"value\":1.5,\"currency\":\"EUR\"},"
                + "{\"id\":\"B0\",\"value\":5.00,\"currency\":\"EUR\"},"
                + "{\"id\":\"B0\",\"value\":6,\"currency\":\"EUR\"},"
                + "{\"id\":\"B3\",\"value\":-1,\"currency\":\"EUR\"},"
                + "{\"value\":1,\"currency\":\"EUR\"},"
                + "7,"
                + "{\"ID\":\"B1\",\"Value\":2,\"CURRENCY\":\"GBP\"}]");
        assertThat(response.status(), is(Status.OK_200));
        assertThat(response.entity(), is("[{\"id\":\"B2\",\"status\":200},"
                + "{\"id\":\"B0\",\"status\":200},"
                + "{\"id\":\"B0\",\"status\":409,\"error\":\"payment B0 was already made with another value or currency\"},"
                + "{\"id\":\"B3\",\"status\":400,\"error\":\"payment value must be positive\"},"
                + "{\"status\":400,\"error\":\"could not retrieve payment id\"},"
                + "{\"status\":400,\"error\":\"failed to process payment request parameters\"},"
                + "{\"id\":\"B1\",\"status\":200}]"));
        assertThat(payments("recorded") - recordedBefore, is(2L));
        assertThat(payments("already_recorded") - alreadyBefore, is(1L));
        assertThat(payments("conflict") - conflictBefore, is(1L));
        assertThat(client.get("/payments/B2").request(String.class).entity(),
                is("{\"id\":\"B2\",\"value\":1.50,\"currency\":\"EUR\"}"));
        assertThat(client.get("/payments/B1").request(String.class).entity(),
                is("{\"id\":\"B1\",\"value\":2.00,\"currency\":\"GBP\"}"));
        assertThat(client.get("/payments/B3").request(String.class).status(), is(Status.NOT_FOUND_404));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "{\"id\":\"B9\",\"value\":1,\"currency\":\"EUR\"}|a payment batch must be a JSON array of payments",
            "[]|a payment batch holds 1 to 1000 payments, got 0",
            "[{\"id\":|failed to process payment request parameters"})
    void aBodyThatIsNoBatchIsRefusedWhole(String body, String message) {
        var response = payBatch(body);
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), is("{\"error\":\"" + message + "\"}"));
        assertThat(client.get("/payments/B9").request(String.class).status(), is(Status.NOT_FOUND_404));
    }

    @Test
    void aBatchOfMoreThanAThousandIsRefusedWholeAndRecordsNothing() {
        StringBuilder body = new StringBuilder("[");
        for (int i = 0; i <= 1000; i++) {
            body.append(i == 0 ? "" : ",").append("{\"id\":\"L").append(i).append("\",\"value\":1,\"currency\":\"EUR\"}");
        }
        var response = payBatch(body.append(']').toString());
        assertThat(response.status(), is(Status.BAD_REQUEST_400));
        assertThat(response.entity(), is("{\"error\":\"a payment batch holds 1 to 1000 payments, got 1001\"}"));
        assertThat(client.get("/payments/L1").request(String.class).status(), is(Status.NOT_FOUND_404));
    }
}
