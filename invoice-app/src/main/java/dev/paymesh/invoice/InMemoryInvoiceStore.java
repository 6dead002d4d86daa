package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Currency;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;

/** Invoices in this process only, seeded like the original service: for a laptop and for tests. */
public final class InMemoryInvoiceStore implements InvoiceStore {

    private final ReentrantLock lock = new ReentrantLock();
    private final TreeMap<String, Invoice> invoices = new TreeMap<>();

    /** A store holding the three invoices every installation starts with. */
    public static InMemoryInvoiceStore seeded() {
        InMemoryInvoiceStore store = new InMemoryInvoiceStore();
        store.create(unpaid("I1", "12.15", "EUR"));
        store.create(unpaid("I2", "10.25", "GBP"));
        store.create(unpaid("I3", "66.13", "DKK"));
        return store;
    }

    private static Invoice unpaid(String id, String value, String currency) {
        return new Invoice(id, new BigDecimal(value), Currency.getInstance(currency), Invoice.State.UNPAID);
    }

    @Override
    public List<Invoice> list(Optional<Boolean> paid) {
        lock.lock();
        try {
            return invoices.values().stream()
                    .filter(invoice -> paid.map(wanted -> invoice.isPaid() == wanted).orElse(true))
                    .toList();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<Invoice> find(String id) {
        lock.lock();
        try {
            return Optional.ofNullable(invoices.get(id));
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean create(Invoice invoice) {
        lock.lock();
        try {
            return invoices.putIfAbsent(invoice.id(), invoice) == null;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<Invoice> claimUnpaid() {
        lock.lock();
        try {
            List<Invoice> claimed = new ArrayList<>();
            for (Invoice invoice : invoices.values()) {
                if (invoice.state() == Invoice.State.UNPAID) {
                    claimed.add(invoice.withState(Invoice.State.PAYING));
                }
            }
            claimed.forEach(invoice -> invoices.put(invoice.id(), invoice));
            return claimed;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void markPaid(String id) {
        move(id, Invoice.State.PAID);
    }

    @Override
    public void release(String id) {
        move(id, Invoice.State.UNPAID);
    }

    private void move(String id, Invoice.State to) {
        lock.lock();
        try {
            invoices.computeIfPresent(id, (key, invoice) ->
                    invoice.state() == Invoice.State.PAYING ? invoice.withState(to) : invoice);
        } finally {
            lock.unlock();
        }
    }
}
