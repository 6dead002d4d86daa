package dev.paymesh.payment;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.InvalidRequestException;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The limits the payments table sets, refused as bad requests before any store sees them. */
class PaymentRequestParserTest {

    private static String body(String id, String value) {
        return "{\"id\":\"" + id + "\",\"value\":" + value + ",\"currency\":\"EUR\"}";
    }

    private static String refusal(String body) {
        return assertThrows(InvalidRequestException.class, () -> PaymentRequestParser.parse(body)).getMessage();
    }

    @Test
    void idUpToTheLimitIsAccepted() {
        String longest = "x".repeat(PaymentRequestParser.MAX_ID_LENGTH);
        assertThat(PaymentRequestParser.parse(body(longest, "1")).id(), is(longest));
    }

    @Test
    void longerIdIsRefused() {
        String tooLong = "x".repeat(PaymentRequestParser.MAX_ID_LENGTH + 1);
        assertThat(refusal(body(tooLong, "1")), is("payment id must be at most 255 characters"));
    }

    @Test
    void idWithNulIsRefused() {
        assertThat(refusal(body("I\\u00001", "1")), is("payment id must not contain the NUL character"));
    }

    @Test
    void valueBelowTheLimitIsAccepted() {
        assertThat(PaymentRequestParser.parse(body("V1", "999999999999999.99")).value().toPlainString(),
                is("999999999999999.99"));
    }

    @Test
    void valueAtOrOverTheLimitIsRefused() {
        assertThat(refusal(body("V1", "1000000000000000")), is("payment value must be less than 1000000000000000"));
        assertThat(refusal(body("V1", "1E+400")), is("payment value must be less than 1000000000000000"));
    }
}
