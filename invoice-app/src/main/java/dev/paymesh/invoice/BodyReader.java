package dev.paymesh.invoice;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import io.helidon.webserver.http.ServerRequest;

/** Reads a request body as text, refusing one larger than the limit before it is buffered. */
final class BodyReader {

    private BodyReader() {
    }

    /** Thrown when a body exceeds the limit; mapped to 413. */
    static final class TooLargeException extends RuntimeException {
        TooLargeException(long limit) {
            super("request body is larger than " + limit + " bytes", null, false, false);
        }
    }

    static String read(ServerRequest request, int limit) {
        long declared = request.headers().contentLength().orElse(-1L);
        if (declared > limit) {
            throw new TooLargeException(limit);
        }
        try (InputStream in = request.content().inputStream()) {
            byte[] bytes = in.readNBytes(limit + 1);
            if (bytes.length > limit) {
                throw new TooLargeException(limit);
            }
            return new String(Arrays.copyOf(bytes, bytes.length), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
