package dev.paymesh.support;

/** The service cannot start: its port is taken, or its database cannot be reached or migrated. */
public final class StartupException extends RuntimeException {

    public StartupException(String message, Throwable cause) {
        super(message, cause);
    }
}
