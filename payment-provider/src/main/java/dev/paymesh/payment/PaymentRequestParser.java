package dev.paymesh.payment;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Currency;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import jakarta.json.JsonArray;
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

    /** The most payments one batch may hold. */
    static final int MAX_BATCH = 1000;

    static final String NOT_A_BATCH = "a payment batch must be a JSON array of payments";

    /** One payment of a batch, or why it is refused (as the single payment's 400 would say), with its id if it has one. */
    record Item(Payment payment, String id, String error) {
    }

    static Payment parse(String body) {
        JsonValue value = readValue(body);
        if (value.getValueType() != JsonValue.ValueType.OBJECT) {
            throw new InvalidRequestException(MALFORMED);
        }
        return parse(value.asJsonObject());
    }

    /**
     * Reads a batch: a JSON array of 1 to {@value #MAX_BATCH} payments, each judged on its own. A body
     * that is not such an array is refused whole.
     */
    static List<Item> parseBatch(String body) {
        JsonValue value = readValue(body);
        if (value.getValueType() != JsonValue.ValueType.ARRAY) {
            throw new InvalidRequestException(NOT_A_BATCH);
        }
        JsonArray array = value.asJsonArray();
        if (array.isEmpty() || array.size() > MAX_BATCH) {
            throw new InvalidRequestException("a payment batch holds 1 to " + MAX_BATCH + " payments, got " + array.size());
        }
        List<Item> items = new ArrayList<>(array.size());
        for (JsonValue element : array) {
            if (element.getValueType() != JsonValue.ValueType.OBJECT) {
                items.add(new Item(null, null, MALFORMED));
                continue;
            }
            JsonObject json = element.asJsonObject();
            try {
                Payment payment = parse(json);
                items.add(new Item(payment, payment.id(), null));
            } catch (InvalidRequestException e) {
                JsonValue id = field(json, "id");
                items.add(new Item(null, id instanceof JsonString text ? text.getString() : null, e.getMessage()));
            }
        }
        return items;
    }

    private static Payment parse(JsonObject json) {
        String id = id(text(json, "id", NO_ID));
        BigDecimal value = amount(json);
        Currency currency = currency(text(json, "currency", NO_CURRENCY));
        if (!Money.fitsMinorUnits(value, currency)) {
            throw new InvalidRequestException("payment value " + Money.tooPrecise(currency));
        }
        return new Payment(id, value, currency);
    }

    private static JsonValue readValue(String body) {
        try (var reader = Json.reader(body)) {
            return reader.readValue();
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
