package dev.paymesh.support;

/**
 * The service's database cannot be reached or refuses work for now: answered 503 with
 * {@code Retry-After}, since the same request may succeed later.
 */
public final class StoreUnavailableException extends RuntimeException {

    public StoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
