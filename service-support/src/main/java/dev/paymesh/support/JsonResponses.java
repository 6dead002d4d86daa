package dev.paymesh.support;

import java.nio.charset.StandardCharsets;

import io.helidon.http.HeaderValues;
import io.helidon.http.Status;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import jakarta.json.JsonStructure;

/** Every answer of the services is JSON, errors included: {@code {"error": "..."}}. */
public final class JsonResponses {

    private JsonResponses() {
    }

    public static void send(ServerResponse response, Status status, JsonStructure body) {
        send(response, status, body.toString());
    }

    /** Answers with JSON text already written (see {@link JsonText}), as UTF-8 bytes. */
    public static void send(ServerResponse response, Status status, String json) {
        send(response, status, json.getBytes(StandardCharsets.UTF_8));
    }

    /** Answers with JSON already written as UTF-8 bytes, which are sent as they are. */
    public static void send(ServerResponse response, Status status, byte[] json) {
        response.status(status);
        response.header(HeaderValues.CONTENT_TYPE_JSON);
        response.send(json);
    }

    public static void error(ServerResponse response, Status status, String message) {
        send(response, status, JsonText.object("error", message));
    }

    /** How a 405 names the path: invoice-app gives the whole path, payment-provider the path within /payments. */
    public enum PathShown { WHOLE, WITHIN_SERVICE }

    /** Answers 405 naming the method and the path. */
    public static Handler methodNotAllowed(PathShown shown) {
        return (request, response) -> error(response, Status.METHOD_NOT_ALLOWED_405,
                "method " + request.prologue().method().text() + " is not allowed on " + path(request, shown));
    }

    private static String path(ServerRequest request, PathShown shown) {
        return shown == PathShown.WHOLE ? request.path().absolute().path() : request.path().path();
    }
}
