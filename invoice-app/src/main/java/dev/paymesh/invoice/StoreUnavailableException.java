package dev.paymesh.invoice;

/** The invoice database cannot be reached or refuses work for now; the request may be retried later. */
final class StoreUnavailableException extends RuntimeException {

    StoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
