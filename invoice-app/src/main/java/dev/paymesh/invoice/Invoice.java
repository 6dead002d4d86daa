package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.util.Currency;
import java.util.Objects;

import jakarta.json.JsonObject;

import dev.paymesh.support.Json;
import dev.paymesh.support.JsonText;
import dev.paymesh.support.Money;

/**
 * An invoice. While a payment for it is in flight it is {@link State#PAYING}: still unpaid for
 * every reader, but no other pay run may take it. One payment-provider refused with a 4xx is
 * {@link State#REFUSED}: unpaid for every reader, and left out of pay runs until an operator
 * returns it to UNPAID.
 */
public record Invoice(String id, BigDecimal value, Currency currency, State state) {

    /** Where an invoice is in its life. */
    public enum State { UNPAID, PAYING, PAID, REFUSED }

    public Invoice {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(value, "value");
        Objects.requireNonNull(currency, "currency");
        Objects.requireNonNull(state, "state");
        // Written with the currency's minor units, so every store answers the same bytes.
        value = Money.inMinorUnits(value, currency);
    }

    public boolean isPaid() {
        return state == State.PAID;
    }

    Invoice withState(State newState) {
        return new Invoice(id, value, currency, newState);
    }

    /** The wire shape existing clients read: PascalCase, Value a number in the currency's minor units. */
    JsonObject toJson() {
        return Json.object()
                .add("InvoiceId", id)
                .add("Value", value)
                .add("Currency", currency.getCurrencyCode())
                .add("IsPaid", isPaid())
                .build();
    }

    /** Appends the same JSON as {@link #toJson()}'s text, written directly (see {@link JsonText}). */
    StringBuilder appendJson(StringBuilder out) {
        out.append("{\"InvoiceId\":");
        JsonText.string(out, id).append(",\"Value\":");
        JsonText.number(out, value).append(",\"Currency\":");
        JsonText.string(out, currency.getCurrencyCode()).append(",\"IsPaid\":");
        return out.append(isPaid()).append('}');
    }

    /** {@link #toJson()}'s text, written directly. */
    String jsonText() {
        return appendJson(new StringBuilder(80)).toString();
    }
}
