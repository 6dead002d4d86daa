package dev.paymesh.support;

import java.io.StringReader;

import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonReader;
import jakarta.json.spi.JsonProvider;

/**
 * The services' one way to JSON: the JSON-P object model, built and read through one provider. The
 * provider is looked up once here, since every {@code jakarta.json.Json.createX} call would search
 * the service loader again; answers are written by {@link JsonResponses}.
 */
public final class Json {

    private static final JsonProvider PROVIDER = JsonProvider.provider();

    private Json() {
    }

    public static JsonObjectBuilder object() {
        return PROVIDER.createObjectBuilder();
    }

    public static JsonArrayBuilder array() {
        return PROVIDER.createArrayBuilder();
    }

    /** A reader of the text; the caller closes it. */
    public static JsonReader reader(String text) {
        return PROVIDER.createReader(new StringReader(text));
    }
}
