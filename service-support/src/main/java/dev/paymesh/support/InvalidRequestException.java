package dev.paymesh.support;

/**
 * A request the client must fix: answered 400 with this message as is. Named apart from Helidon's
 * {@code io.helidon.http.InvalidRequestException}, which its own error handling answers differently.
 */
public final class InvalidRequestException extends RuntimeException {

    public InvalidRequestException(String message) {
        super(message, null, false, false);
    }
}
