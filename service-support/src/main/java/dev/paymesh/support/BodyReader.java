package dev.paymesh.support;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import io.helidon.http.BadRequestException;
import io.helidon.http.HeaderNames;
import io.helidon.http.RequestException;
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
        long declared = declaredLength(request);
        if (declared > limit) {
            throw new TooLargeException(limit);
        }
        byte[] bytes;
        try (InputStream in = request.content().inputStream()) {
            bytes = declared >= 0 ? readDeclared(in, (int) declared) : in.readNBytes(limit + 1);
        } catch (RequestException e) {
            throw e; // Helidon answers these itself (a body over server.max-payload-size: 413)
        } catch (IOException | RuntimeException e) {
            // A client gone before its body ended, or a body not framed as its headers say (a bad
            // chunk size): the request is at fault, not the service.
            throw new BadRequestException("the request body could not be read to its end", e);
        }
        if (bytes.length > limit) {
            throw new TooLargeException(limit);
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /**
     * A body of a known length, read straight into an array of that size: one copy, where
     * readNBytes(limit + 1) fills 16 KiB buffers and copies them twice more.
     */
    private static byte[] readDeclared(InputStream in, int length) throws IOException {
        byte[] bytes = new byte[length];
        int read = in.readNBytes(bytes, 0, length);
        if (read < length || in.read() != -1) {
            throw new IOException("the body has " + (read < length ? "fewer" : "more") + " bytes than its Content-Length");
        }
        return bytes;
    }

    /**
     * The Content-Length, or -1 without one. Read as text: {@code headers().contentLength()} converts
     * through Helidon's global mappers, which Helidon 4.4 looks up in its service registry on every
     * call. Helidon has already refused a request whose Content-Length is not a number.
     */
    private static long declaredLength(ServerRequest request) {
        String value = request.headers().first(HeaderNames.CONTENT_LENGTH).orElse(null);
        if (value == null) {
            return -1;
        }
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
