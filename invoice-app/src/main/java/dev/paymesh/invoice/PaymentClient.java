package dev.paymesh.invoice;

import io.helidon.http.Headers;

/** payment-provider as a pay run sees it: pays one invoice, or asks whether it was paid. */
public interface PaymentClient {

    /** What became of one payment attempt. */
    sealed interface Result {
        /** payment-provider answered 2xx: the invoice is paid. */
        record Paid() implements Result { }

        /** payment-provider refused or could not be reached: nothing was charged. */
        record NotPaid(String reason) implements Result { }

        /** No answer in time: the payment may or may not have been recorded. */
        record Unknown(String reason) implements Result { }
    }

    /** Pays the invoice, forwarding the tracing headers of the request that started the pay run. */
    Result pay(Invoice invoice, Headers incoming);

    /**
     * Asks whether payment-provider recorded a payment for the invoice, when an earlier attempt has
     * no known outcome. Only a paid or a nothing-recorded answer is an answer; anything else, an
     * unreachable provider included, leaves the outcome unknown.
     */
    Result reconcile(Invoice invoice, Headers incoming);
}
