package dev.paymesh.invoice;

/** A request the client must fix; its message is sent to the client as is. */
final class BadRequestException extends RuntimeException {

    BadRequestException(String message) {
        super(message, null, false, false);
    }
}
