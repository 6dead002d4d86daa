package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
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
 *
 * <p>Immutable, with a record's accessors, equality and text. Not a record because it also keeps
 * its JSON, written once when it is made: a list answer copies those bytes for every invoice on
 * every read instead of writing the text again (bench/RESULTS.md, "Reads at scale").
 */
public final class Invoice {

    /** Where an invoice is in its life. */
    public enum State { UNPAID, PAYING, PAID, REFUSED }

    private final String id;
    private final BigDecimal value;
    private final Currency currency;
    private final State state;
    /** {@link #toJson()}'s text in UTF-8; never handed out to be changed. */
    private final byte[] json;

    public Invoice(String id, BigDecimal value, Currency currency, State state) {
        this.id = Objects.requireNonNull(id, "id");
        this.currency = Objects.requireNonNull(currency, "currency");
        this.state = Objects.requireNonNull(state, "state");
        // Written with the currency's minor units, so every store answers the same bytes.
        this.value = Money.inMinorUnits(Objects.requireNonNull(value, "value"), currency);
        this.json = writeJson().getBytes(StandardCharsets.UTF_8);
    }

    public String id() {
        return id;
    }

    public BigDecimal value() {
        return value;
    }

    public Currency currency() {
        return currency;
    }

    public State state() {
        return state;
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

    /** The same JSON as {@link #toJson()}'s text, written directly (see {@link JsonText}). */
    private String writeJson() {
        StringBuilder out = new StringBuilder(80).append("{\"InvoiceId\":");
        JsonText.string(out, id).append(",\"Value\":");
        JsonText.number(out, value).append(",\"Currency\":");
        JsonText.string(out, currency.getCurrencyCode()).append(",\"IsPaid\":");
        return out.append(isPaid()).append('}').toString();
    }

    /** {@link #toJson()}'s text. */
    String jsonText() {
        return new String(json, StandardCharsets.UTF_8);
    }

    /** The length of {@link #toJson()}'s text in UTF-8. */
    int jsonLength() {
        return json.length;
    }

    /** Copies {@link #toJson()}'s text in UTF-8 into {@code out} at {@code at}; returns where it ends. */
    int copyJson(byte[] out, int at) {
        System.arraycopy(json, 0, out, at, json.length);
        return at + json.length;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Invoice that && id.equals(that.id) && value.equals(that.value)
                && currency.equals(that.currency) && state == that.state;
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, value, currency, state);
    }

    @Override
    public String toString() {
        return "Invoice[id=" + id + ", value=" + value + ", currency=" + currency + ", state=" + state + "]";
    }
}
