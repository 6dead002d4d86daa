package dev.paymesh.payment;

import java.math.BigDecimal;
import java.util.Currency;
import java.util.Locale;
import java.util.Map;

import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import jakarta.json.stream.JsonParsingException;

import dev.paymesh.support.InvalidRequestException;
import dev.paymesh.support.Json;
import dev.paymesh.support.Money;

/**
 * Turns a request body into a {@link Payment}. The messages of the first four failures are the
 * ones existing clients of the original service match on, so they must not change; keys are
 * matched case-insensitively, as the original did, and unknown keys are ignored, as it did.
 */
final class PaymentRequestParser {

    static final String MALFORMED = "failed to process payment request parameters";
    static final String NO_ID = "could not retrieve payment id";
    static final String NO_VALUE = "could not retrieve payment value";
    static final String NO_CURRENCY = "could not retrieve payment currency";

    // The limits of the payments table, checked here so that both stores refuse the same requests.
    static final int MAX_ID_LENGTH = 255;

    private PaymentRequestParser() {
    }

    static Payment parse(String body) {
        JsonObject json = readObject(body);
        String id = id(text(json, "id", NO_ID));
        BigDecimal value = amount(json);
        Currency currency = currency(text(json, "currency", NO_CURRENCY));
        if (!Money.fitsMinorUnits(value, currency)) {
            throw new InvalidRequestException("payment value " + Money.tooPrecise(currency));
        }
        return new Payment(id, value, currency);
    }

    private static JsonObject readObject(String body) {
        try (var reader = Json.reader(body)) {
            JsonValue value = reader.readValue();
            if (value.getValueType() != JsonValue.ValueType.OBJECT) {
                throw new InvalidRequestException(MALFORMED);
            }
            return value.asJsonObject();
        } catch (JsonParsingException | IllegalStateException e) {
            throw new InvalidRequestException(MALFORMED);
        } catch (JsonException e) {
            throw new InvalidRequestException(MALFORMED);
        }
    }

    private static JsonValue field(JsonObject json, String name) {
        for (Map.Entry<String, JsonValue> entry : json.entrySet()) {
            if (entry.getKey().toLowerCase(Locale.ROOT).equals(name)) {
                return entry.getValue();
            }
        }
        return JsonValue.NULL;
    }

    private static String text(JsonObject json, String name, String missingMessage) {
        JsonValue value = field(json, name);
        if (value.getValueType() == JsonValue.ValueType.NULL) {
            throw new InvalidRequestException(missingMessage);
        }
        if (value.getValueType() != JsonValue.ValueType.STRING) {
            throw new InvalidRequestException("payment " + name + " must be a JSON string");
        }
        String text = ((JsonString) value).getString();
        if (text.isBlank()) {
            throw new InvalidRequestException(missingMessage);
        }
        return text;
    }

    private static String id(String id) {
        if (id.length() > MAX_ID_LENGTH) {
            throw new InvalidRequestException("payment id must be at most " + MAX_ID_LENGTH + " characters");
        }
        if (id.indexOf('\u0000') >= 0) {
            throw new InvalidRequestException("payment id must not contain the NUL character");
        }
        return id;
    }

    private static BigDecimal amount(JsonObject json) {
        JsonValue value = field(json, "value");
        if (value.getValueType() == JsonValue.ValueType.NULL) {
            throw new InvalidRequestException(NO_VALUE);
        }
        if (value.getValueType() != JsonValue.ValueType.NUMBER) {
            throw new InvalidRequestException("payment value must be a JSON number, for example 12.15");
        }
        BigDecimal amount = ((JsonNumber) value).bigDecimalValue();
        if (amount.signum() == 0) {
            throw new InvalidRequestException(NO_VALUE);
        }
        if (amount.signum() < 0) {
            throw new InvalidRequestException("payment value must be positive");
        }
        if (amount.compareTo(Money.LIMIT) >= 0) {
            throw new InvalidRequestException("payment value must be less than " + Money.LIMIT.toPlainString());
        }
        return amount;
    }

    private static Currency currency(String code) {
        try {
            if (code.length() == 3 && code.equals(code.toUpperCase(Locale.ROOT))) {
                return Currency.getInstance(code);
            }
        } catch (IllegalArgumentException e) {
            // falls through to the error below
        }
        throw new InvalidRequestException("payment currency must be an ISO 4217 code such as EUR, got '" + code + "'");
    }
}
