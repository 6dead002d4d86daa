package dev.paymesh.payment;

import java.math.BigDecimal;
import java.util.Currency;
import java.util.Objects;

import dev.paymesh.support.Money;

/**
 * One payment for one invoice. The value is money, so it is a {@link BigDecimal}, held with the
 * currency's minor units ({@link Money}); two payments are the same when id, amount and currency agree.
 */
public record Payment(String id, BigDecimal value, Currency currency) {

    public Payment {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(value, "value");
        Objects.requireNonNull(currency, "currency");
        // Written with the currency's minor units, so every store answers the same bytes.
        value = Money.inMinorUnits(value, currency);
    }

    /** Whether this payment charges the same amount in the same currency as the other one. */
    public boolean sameChargeAs(Payment other) {
        return value.compareTo(other.value) == 0 && currency.equals(other.currency);
    }
}
