package dev.paymesh.support;

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
        response.status(status);
        response.header(HeaderValues.CONTENT_TYPE_JSON);
        response.send(body.toString());
    }

    public static void error(ServerResponse response, Status status, String message) {
        send(response, status, Json.object().add("error", message).build());
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
