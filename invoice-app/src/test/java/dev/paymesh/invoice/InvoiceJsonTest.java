package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Currency;
import java.util.List;

import jakarta.json.JsonArrayBuilder;

import org.junit.jupiter.api.Test;

import dev.paymesh.support.Json;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/** An invoice, or a list of them, written as text is byte for byte the JSON-P value the wire shape was defined with. */
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

    @Test
    void anArrayOfInvoicesIsTheJsonPArraysText() {
        List<Invoice> invoices = new ArrayList<>();
        assertThat(new String(InvoiceService.jsonArray(invoices), StandardCharsets.UTF_8), is("[]"));
        String[] ids = {"I1", "x\"y", "é€", "tab\there", "Z"};
        for (int i = 0; i < ids.length; i++) {
            invoices.add(new Invoice(ids[i], new BigDecimal("1E+" + i), Currency.getInstance(i % 2 == 0 ? "EUR" : "JPY"),
                    Invoice.State.values()[i % Invoice.State.values().length]));
            JsonArrayBuilder expected = Json.array();
            invoices.forEach(invoice -> expected.add(invoice.toJson()));
            assertThat(new String(InvoiceService.jsonArray(invoices), StandardCharsets.UTF_8), is(expected.build().toString()));
        }
    }
}
