package dev.paymesh.support;

import java.math.BigDecimal;
import java.util.Currency;

/**
 * The rules both services apply to an amount of money, so an invoice invoice-app takes is always a
 * payment payment-provider takes, and every store answers the same bytes for it.
 *
 * <p>An amount is written with exactly its currency's minor units (ISO 4217 via
 * {@link Currency#getDefaultFractionDigits()}: EUR 2, JPY 0, KWD 3): {@code 1E+3}, {@code 1000} and
 * {@code 1000.000} EUR are all {@code 1000.00}. Trailing zeros beyond the minor units are dropped;
 * a digit that is not zero there is more precision than the currency has, and is refused.
 */
public final class Money {

    /** Amounts must stay below this, 10^15, in both services: the payments table holds no more. */
    public static final BigDecimal LIMIT = BigDecimal.TEN.pow(15);

    /**
     * Minor units for the few ISO 4217 codes that define none (gold, special drawing rights, the test
     * code XXX ...): the two decimals every currency was held to before minor units were looked up.
     */
    private static final int WITHOUT_MINOR_UNITS = 2;

    private Money() {
    }

    /** How many decimals an amount in the currency has. */
    public static int minorUnits(Currency currency) {
        int digits = currency.getDefaultFractionDigits();
        return digits < 0 ? WITHOUT_MINOR_UNITS : digits;
    }

    /** Whether the amount needs no more decimals than the currency has; trailing zeros do not count. */
    public static boolean fitsMinorUnits(BigDecimal amount, Currency currency) {
        return amount.stripTrailingZeros().scale() <= minorUnits(currency);
    }

    /**
     * The amount written with the currency's minor units. An amount with more precision than that
     * (only a row stored before the rule existed can have one) is returned with its trailing zeros
     * stripped, so that it too reads the same from every store; nothing is ever rounded.
     */
    public static BigDecimal inMinorUnits(BigDecimal amount, Currency currency) {
        BigDecimal stripped = amount.stripTrailingZeros();
        int digits = minorUnits(currency);
        return stripped.scale() <= digits ? stripped.setScale(digits) : stripped;
    }

    /** The refusal of an amount that needs more decimals than its currency has, after the field's name. */
    public static String tooPrecise(Currency currency) {
        int digits = minorUnits(currency);
        return digits == 0
                ? "must be a whole number of " + currency.getCurrencyCode() + ", which has no minor unit"
                : "must have at most " + digits + " decimal places for " + currency.getCurrencyCode();
    }
}
