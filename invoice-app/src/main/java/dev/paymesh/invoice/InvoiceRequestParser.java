package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.util.Currency;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;

import dev.paymesh.support.InvalidRequestException;
import dev.paymesh.support.Json;
import dev.paymesh.support.Money;

/** Turns the body of POST /invoices into a new unpaid invoice; every refusal names the field. */
final class InvoiceRequestParser {

    private static final Set<String> FIELDS = Set.of("InvoiceId", "Value", "Currency");
    // Ids end up in URLs (/invoices/{id}, /payments/{id}), so they stay URL-safe.
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private InvoiceRequestParser() {
    }

    static Invoice parse(String body) {
        JsonObject json = readObject(body);
        for (String key : json.keySet()) {
            if (!FIELDS.contains(key)) {
                throw new InvalidRequestException("unknown field '" + key + "'; an invoice has InvoiceId, Value and Currency");
            }
        }
        String id = id(json);
        BigDecimal value = value(json);
        Currency currency = currency(json);
        if (!Money.fitsMinorUnits(value, currency)) {
            throw new InvalidRequestException("Value " + Money.tooPrecise(currency));
        }
        return new Invoice(id, value, currency, Invoice.State.UNPAID);
    }

    private static JsonObject readObject(String body) {
        try (var reader = Json.reader(body)) {
            JsonValue value = reader.readValue();
            if (value.getValueType() != JsonValue.ValueType.OBJECT) {
                throw new InvalidRequestException("the body must be a JSON object");
            }
            return value.asJsonObject();
        } catch (JsonException | IllegalStateException e) {
            throw new InvalidRequestException("the body is not valid JSON");
        }
    }

    private static String id(JsonObject json) {
        JsonValue value = json.getOrDefault("InvoiceId", JsonValue.NULL);
        if (value.getValueType() == JsonValue.ValueType.NULL) {
            return "INV-" + UUID.randomUUID();
        }
        if (value.getValueType() != JsonValue.ValueType.STRING
                || !ID.matcher(((JsonString) value).getString()).matches()) {
            throw new InvalidRequestException("InvoiceId must be a string of 1 to 64 letters, digits, '.', '_' or '-'");
        }
        return ((JsonString) value).getString();
    }

    private static BigDecimal value(JsonObject json) {
        JsonValue value = json.getOrDefault("Value", JsonValue.NULL);
        if (value.getValueType() == JsonValue.ValueType.NULL) {
            throw new InvalidRequestException("Value is required, for example 12.15");
        }
        if (value.getValueType() != JsonValue.ValueType.NUMBER) {
            throw new InvalidRequestException("Value must be a JSON number, for example 12.15");
        }
        BigDecimal amount = ((JsonNumber) value).bigDecimalValue();
        if (amount.signum() <= 0) {
            throw new InvalidRequestException("Value must be greater than 0");
        }
        // The limit payment-provider holds too: an invoice above it could never be paid.
        if (amount.compareTo(Money.LIMIT) >= 0) {
            throw new InvalidRequestException("Value must be less than " + Money.LIMIT.toPlainString());
        }
        return amount;
    }

    private static Currency currency(JsonObject json) {
        JsonValue value = json.getOrDefault("Currency", JsonValue.NULL);
        if (value.getValueType() == JsonValue.ValueType.NULL) {
            throw new InvalidRequestException("Currency is required, an ISO 4217 code such as EUR");
        }
        if (value.getValueType() == JsonValue.ValueType.STRING) {
            String code = ((JsonString) value).getString();
            if (code.length() == 3 && code.equals(code.toUpperCase(Locale.ROOT))) {
                try {
                    return Currency.getInstance(code);
                } catch (IllegalArgumentException e) {
                    // falls through to the error below
                }
            }
        }
        throw new InvalidRequestException("Currency must be an ISO 4217 code such as EUR");
    }
}
