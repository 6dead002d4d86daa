package dev.paymesh.invoice;

import io.helidon.http.HeaderValues;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerResponse;

import jakarta.json.JsonObject;
import jakarta.json.spi.JsonProvider;

/** Every answer of this service is JSON, errors included. */
final class JsonResponses {

    // Looked up once: each Json.createX call would search the service loader again.
    private static final JsonProvider JSON = JsonProvider.provider();

    private JsonResponses() {
    }

    static void send(ServerResponse response, Status status, JsonObject body) {
        response.status(status);
        response.header(HeaderValues.CONTENT_TYPE_JSON);
        response.send(body.toString());
    }

    static void error(ServerResponse response, Status status, String message) {
        send(response, status, JSON.createObjectBuilder().add("error", message).build());
    }
}
