package dev.paymesh.invoice;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Where invoices live. Claiming is atomic, so two pay runs, in this process or in another replica,
 * never hold the same invoice at once.
 *
 * <p>A pay run claims under an owner name of its own, a batch at a time. A claim lasts for the
 * store's lease: once it is older than that, another run may take the invoice over (its owner is
 * presumed dead). A claim also notes that a payment may now be sent for the invoice, so whoever
 * takes it over asks payment-provider first. The owner renews its claims when a batch takes long,
 * and every later change names the owner, so a run that lost its claim changes nothing.
 */
public interface InvoiceStore {

    /** An invoice a pay run holds; when {@code outcomeUnknown} a payment may have been sent for it before this claim. */
    record Claimed(Invoice invoice, boolean outcomeUnknown) { }

    /** How a pay run leaves one invoice it claimed. */
    enum Settlement {
        /** payment-provider recorded the payment. */
        PAID,
        /** Nothing was charged: UNPAID again, paid by the next run without asking first. */
        NOT_PAID,
        /** Whether it was charged is not known: UNPAID again, and the next run asks payment-provider first. */
        UNKNOWN,
        /** payment-provider refused it for good (a 4xx): REFUSED, and no later run claims it. */
        REFUSED
    }

    /**
     * At most {@code limit} invoices whose id sorts after {@code after} (by its bytes; from the first
     * when empty), ordered by id: all of them, or only the paid (true) or unpaid (false) ones.
     * {@code after} need not be the id of an invoice.
     */
    List<Invoice> list(Optional<Boolean> paid, Optional<String> after, int limit);

    /** All invoices ordered by id, or only the paid (true) or unpaid (false) ones. */
    default List<Invoice> list(Optional<Boolean> paid) {
        return list(paid, Optional.empty(), Integer.MAX_VALUE);
    }

    Optional<Invoice> find(String id);

    /** Adds the invoice; false when one with its id exists. */
    boolean create(Invoice invoice);

    /**
     * Moves up to {@code limit} invoices whose id sorts after {@code after} ({@code null}: from the
     * first) to PAYING for this owner, and returns them ordered by id: every UNPAID one, and every
     * PAYING one whose claim outlived the lease. A concurrent caller gets the others.
     */
    List<Claimed> claimUnpaid(String owner, String after, int limit);

    /** Claims every claimable invoice at once. */
    default List<Claimed> claimUnpaid(String owner) {
        return claimUnpaid(owner, null, Integer.MAX_VALUE);
    }

    /** Renews the owner's claims on these invoices; returns those that were still the owner's. */
    Set<String> renew(String owner, Collection<String> ids);

    /**
     * Settles the owner's claimed invoices as given; returns the ids that were still the owner's.
     * The others are left as they are: another run took them over and settles them itself.
     */
    Set<String> settle(String owner, Map<String, Settlement> settlements);

    /** {@link #renew} of one invoice. */
    default boolean startPayment(String id, String owner) {
        return renew(owner, List.of(id)).contains(id);
    }

    /** {@link #settle} of one invoice as paid. */
    default boolean markPaid(String id, String owner) {
        return settle(owner, Map.of(id, Settlement.PAID)).contains(id);
    }

    /** {@link #settle} of one invoice as not paid, or as unknown when {@code outcomeUnknown}. */
    default boolean release(String id, String owner, boolean outcomeUnknown) {
        return settle(owner, Map.of(id, outcomeUnknown ? Settlement.UNKNOWN : Settlement.NOT_PAID)).contains(id);
    }

    /** {@link #settle} of one invoice as refused. */
    default boolean refuse(String id, String owner) {
        return settle(owner, Map.of(id, Settlement.REFUSED)).contains(id);
    }
}
