package dev.paymesh.invoice;

import java.math.BigDecimal;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Currency;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiFunction;

/** Invoices in this process only, seeded like the original service: for a laptop and for tests. */
public final class InMemoryInvoiceStore implements InvoiceStore {

    /** One stored invoice with its claim: the owner and since when, null when not PAYING. */
    private record Entry(Invoice invoice, String owner, Instant claimedAt, boolean outcomeUnknown) {
        Entry moved(Invoice.State state, String newOwner, Instant at, boolean unknown) {
            return new Entry(invoice.withState(state), newOwner, at, unknown);
        }
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final TreeMap<String, Entry> invoices = new TreeMap<>();
    private final Duration lease;
    private final Clock clock;

    public InMemoryInvoiceStore(Duration lease, Clock clock) {
        this.lease = Objects.requireNonNull(lease, "lease");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** A store holding the three invoices every installation starts with. */
    public static InMemoryInvoiceStore seeded(Duration lease, Clock clock) {
        InMemoryInvoiceStore store = new InMemoryInvoiceStore(lease, clock);
        store.create(unpaid("I1", "12.15", "EUR"));
        store.create(unpaid("I2", "10.25", "GBP"));
        store.create(unpaid("I3", "66.13", "DKK"));
        return store;
    }

    private static Invoice unpaid(String id, String value, String currency) {
        return new Invoice(id, new BigDecimal(value), Currency.getInstance(currency), Invoice.State.UNPAID);
    }

    @Override
    public List<Invoice> list(Optional<Boolean> paid, Optional<String> after, int limit) {
        lock.lock();
        try {
            // The entries after the id only, and no further than the page: a page costs its own size.
            Collection<Entry> from = after.isPresent() ? invoices.tailMap(after.get(), false).values() : invoices.values();
            // Only references are copied under the lock; the answer is written after it is released.
            List<Invoice> page = new ArrayList<>(Math.min(limit, invoices.size()));
            for (Entry entry : from) {
                if (page.size() >= limit) {
                    break;
                }
                if (paid.isEmpty() || entry.invoice().isPaid() == paid.get()) {
                    page.add(entry.invoice());
                }
            }
            return page;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<Invoice> find(String id) {
        lock.lock();
        try {
            return Optional.ofNullable(invoices.get(id)).map(Entry::invoice);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean create(Invoice invoice) {
        lock.lock();
        try {
            return invoices.putIfAbsent(invoice.id(), new Entry(invoice, null, null, false)) == null;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<Claimed> claimUnpaid(String owner, String after, int limit) {
        Objects.requireNonNull(owner, "owner");
        lock.lock();
        try {
            Instant now = clock.instant();
            List<Claimed> claimed = new ArrayList<>(Math.min(limit, 1024));
            for (Map.Entry<String, Entry> stored : (after == null ? invoices : invoices.tailMap(after, false)).entrySet()) {
                if (claimed.size() == limit) {
                    break;
                }
                Entry entry = stored.getValue();
                if (claimable(entry, now)) {
                    claimed.add(new Claimed(entry.invoice().withState(Invoice.State.PAYING), entry.outcomeUnknown()));
                    stored.setValue(entry.moved(Invoice.State.PAYING, owner, now, true));
                }
            }
            return claimed;
        } finally {
            lock.unlock();
        }
    }

    private boolean claimable(Entry entry, Instant now) {
        return switch (entry.invoice().state()) {
            case UNPAID -> true;
            case PAYING -> !entry.claimedAt().plus(lease).isAfter(now);
            case PAID, REFUSED -> false;
        };
    }

    @Override
    public Set<String> renew(String owner, Collection<String> ids) {
        Instant now = clock.instant();
        return changeClaimed(owner, ids, (id, entry) -> entry.moved(Invoice.State.PAYING, owner, now, true));
    }

    @Override
    public Set<String> settle(String owner, Map<String, Settlement> settlements) {
        return changeClaimed(owner, settlements.keySet(), (id, entry) -> switch (settlements.get(id)) {
            case PAID -> entry.moved(Invoice.State.PAID, owner, entry.claimedAt(), false);
            case NOT_PAID -> entry.moved(Invoice.State.UNPAID, null, null, false);
            case UNKNOWN -> entry.moved(Invoice.State.UNPAID, null, null, true);
            case REFUSED -> entry.moved(Invoice.State.REFUSED, null, null, false);
        });
    }

    /** Applies the change to each of the ids the owner still holds, and returns those. */
    private Set<String> changeClaimed(String owner, Collection<String> ids, BiFunction<String, Entry, Entry> change) {
        Set<String> changed = new HashSet<>();
        lock.lock();
        try {
            for (String id : ids) {
                Entry entry = invoices.get(id);
                if (entry != null && entry.invoice().state() == Invoice.State.PAYING && entry.owner().equals(owner)) {
                    invoices.put(id, change.apply(id, entry));
                    changed.add(id);
                }
            }
            return changed;
        } finally {
            lock.unlock();
        }
    }
}
