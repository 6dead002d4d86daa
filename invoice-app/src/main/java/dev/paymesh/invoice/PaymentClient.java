package dev.paymesh.invoice;

import java.util.List;

import io.helidon.http.Headers;

/** payment-provider as a pay run sees it: pays one invoice or several, or asks whether one was paid. */
public interface PaymentClient {

    /** What became of one payment attempt. */
    sealed interface Result {
        /** payment-provider answered 2xx: the invoice is paid. */
        record Paid() implements Result { }

        /** payment-provider could not be connected to, or has no payment for it: nothing was charged. */
        record NotPaid(String reason) implements Result { }

        /**
         * No answer in time, a 5xx, or a connection that failed after the payment was sent: the
         * payment may or may not have been recorded, so it is looked up before it is sent again.
         */
        record Unknown(String reason) implements Result { }

        /**
         * payment-provider refused the payment with a 4xx (409: another value under this id; 400):
         * sending it again cannot change the answer, so it is not resent until an operator acts.
         */
        record Refused(String reason) implements Result { }
    }

    /** Pays the invoice, forwarding the tracing headers of the request that started the pay run. */
    Result pay(Invoice invoice, Headers incoming);

    /** The most invoices one {@link #payAll} call pays with one request; 1 when each needs its own. */
    default int batchLimit() {
        return 1;
    }

    /**
     * Pays the invoices, at most {@link #batchLimit()} of them, each with the outcome {@link #pay}
     * would have given it; the results are in the invoices' order.
     */
    default List<Result> payAll(List<Invoice> invoices, Headers incoming) {
        return invoices.stream().map(invoice -> pay(invoice, incoming)).toList();
    }

    /**
     * Asks whether payment-provider recorded a payment for the invoice, when an earlier attempt has
     * no known outcome. Only a paid or a nothing-recorded answer is an answer; anything else, an
     * unreachable provider included, leaves the outcome unknown.
     */
    Result reconcile(Invoice invoice, Headers incoming);
}
