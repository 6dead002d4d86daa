package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.util.Currency;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/** An invoice written as text is byte for byte the JSON-P object the wire shape was defined with. */
class InvoiceJsonTest {

    @Test
    void theTextIsTheJsonPObjectsText() {
        String[] ids = {"I1", "INV-2026_01.a", "x\"y", "back\\slash", "tab\there", "é€"};
        String[] values = {"12.15", "10.25", "66.13", "1000", "1E+3", "0.01", "999999999999999.99", "12.3456"};
        String[] currencies = {"EUR", "GBP", "DKK", "JPY", "KWD", "XAU", "CLF"};
        for (String id : ids) {
            for (String value : values) {
                for (String code : currencies) {
                    for (Invoice.State state : Invoice.State.values()) {
                        Invoice invoice = new Invoice(id, new BigDecimal(value), Currency.getInstance(code), state);
                        assertThat(invoice.jsonText(), is(invoice.toJson().toString()));
                    }
                }
            }
        }
    }
}
