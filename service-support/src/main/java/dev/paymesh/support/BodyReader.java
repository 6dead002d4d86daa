package dev.paymesh.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

import io.helidon.webserver.http.ServerRequest;

/** Reads a request body as text, refusing one larger than the limit before it is buffered. */
public final class BodyReader {

    private BodyReader() {
    }

    /** Thrown when a body exceeds the limit; answered 413. */
    public static final class TooLargeException extends RuntimeException {
        TooLargeException(long limit) {
            super("request body is larger than " + limit + " bytes", null, false, false);
        }
    }

    public static String read(ServerRequest request, int limit) {
        long declared = request.headers().contentLength().orElse(-1L);
        if (declared > limit) {
            throw new TooLargeException(limit);
        }
        try (InputStream in = request.content().inputStream()) {
            byte[] bytes = in.readNBytes(limit + 1);
            if (bytes.length > limit) {
                throw new TooLargeException(limit);
            }
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
