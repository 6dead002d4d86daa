package dev.paymesh.payment;

/**
 * The payment store cannot be reached right now. Sending the same request again is safe, since a
 * payment is recorded at most once; mapped to 503 so that callers retry rather than give up.
 */
public final class StoreUnavailableException extends RuntimeException {

    StoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
