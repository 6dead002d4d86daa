package dev.paymesh.payment;

import java.math.BigDecimal;
import java.util.Currency;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/**
 * The store contract for the in-memory store, and what its packed entries must give back exactly:
 * any id (lone surrogates, chars of one and two bytes), any amount a Payment holds, after the table
 * has grown many times.
 */
class InMemoryPaymentStoreTest extends PaymentStoreContract {

    private static final Currency EUR = Currency.getInstance("EUR");

    @Override
    PaymentStore emptyStore() {
        return new InMemoryPaymentStore();
    }

    @Test
    void everyIdComesBackExactly() {
        InMemoryPaymentStore store = new InMemoryPaymentStore();
        String[] ids = {"x", "é-ÿ", "\uD800", "a\uDFFFb", "Ω€", "\u00FF\u0100", "😀", "x".repeat(300), " "};
        for (String id : ids) {
            assertThat(id, store.record(new Payment(id, BigDecimal.ONE, EUR)), is(PaymentStore.Outcome.RECORDED));
        }
        for (String id : ids) {
            assertThat(id, store.find(id).orElseThrow().id(), is(id));
            assertThat(id, store.record(new Payment(id, BigDecimal.ONE, EUR)), is(PaymentStore.Outcome.ALREADY_RECORDED));
        }
        assertThat(store.find("\uD801").isPresent(), is(false));
        assertThat(store.find("\u0100\u00FF").isPresent(), is(false));
    }

    @Test
    void everyAmountAPaymentHoldsComesBackWithItsScale() {
        InMemoryPaymentStore store = new InMemoryPaymentStore();
        String[] values = {"0.01", "1.001", "123456789012345678901234567890.12", "-5", "1E+400", "7E-300"};
        for (int i = 0; i < values.length; i++) {
            Payment payment = new Payment("V" + i, new BigDecimal(values[i]), Currency.getInstance("JPY"));
            store.record(payment);
            Payment found = store.find("V" + i).orElseThrow();
            assertThat(values[i], found, is(payment));
            assertThat(values[i], found.value().scale(), is(payment.value().scale()));
        }
    }

    @Test
    void aHundredThousandPaymentsAreAllFoundAfterTheTableGrew() {
        InMemoryPaymentStore store = new InMemoryPaymentStore();
        for (int i = 0; i < 100_000; i++) {
            assertThat(store.record(new Payment("P" + i, BigDecimal.valueOf(i + 1, 2), EUR)), is(PaymentStore.Outcome.RECORDED));
        }
        for (int i = 0; i < 100_000; i++) {
            assertThat(store.find("P" + i).orElseThrow().value(), is(BigDecimal.valueOf(i + 1, 2)));
        }
        assertThat(store.record(new Payment("P77", new BigDecimal("0.77"), EUR)), is(PaymentStore.Outcome.CONFLICT));
        assertThat(store.find("P100000").isPresent(), is(false));
    }
}
