package dev.paymesh.system;

import java.util.List;
import java.util.regex.Pattern;

/** What the test hops in front of payment-provider see of a payment request: its path and the ids it pays. */
final class PaymentBodies {

    private static final Pattern ID = Pattern.compile("\"id\":\"([^\"]*)\"");

    private PaymentBodies() {
    }

    /** {@code POST /payments/pay} or {@code POST /payments/pay/batch}. */
    static boolean pays(String path) {
        return path.equals("/payments/pay") || path.equals("/payments/pay/batch");
    }

    /** The ids of the payments in the body: one, or a batch's; invoice-app writes them without spaces. */
    static List<String> ids(String body) {
        return ID.matcher(body).results().map(match -> match.group(1)).toList();
    }
}
