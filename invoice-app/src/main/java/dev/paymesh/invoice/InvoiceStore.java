package dev.paymesh.invoice;

import java.util.List;
import java.util.Optional;

/**
 * Where invoices live. Claiming is atomic, so two pay runs, in this process or in another replica,
 * never hold the same invoice at once.
 *
 * <p>A pay run claims under an owner name of its own. A claim lasts for the store's lease: once it is
 * older than that, another run may take the invoice over (its owner is presumed dead). The owner
 * renews the claim just before it sends a payment, and every later change to the invoice names the
 * owner, so a run that lost its claim changes nothing.
 */
public interface InvoiceStore {

    /** An invoice a pay run holds; when {@code outcomeUnknown} a payment may already have been sent for it. */
    record Claimed(Invoice invoice, boolean outcomeUnknown) { }

    /** All invoices ordered by id, or only the paid (true) or unpaid (false) ones. */
    List<Invoice> list(Optional<Boolean> paid);

    /**
     * One page of {@link #list(Optional)}: at most {@code limit} of those invoices whose id sorts
     * after {@code after} (by its bytes; from the first when empty), ordered by id. {@code after}
     * need not be the id of an invoice.
     */
    List<Invoice> list(Optional<Boolean> paid, Optional<String> after, int limit);

    Optional<Invoice> find(String id);

    /** Adds the invoice; false when one with its id exists. */
    boolean create(Invoice invoice);

    /**
     * Moves every UNPAID invoice, and every PAYING one whose claim outlived the lease, to PAYING for
     * this owner and returns them ordered by id; a concurrent caller gets the others.
     */
    List<Claimed> claimUnpaid(String owner);

    /**
     * Renews the owner's claim and notes that a payment may now be sent for the invoice, so whoever
     * takes it over later asks payment-provider first. False when the claim is no longer the owner's.
     */
    boolean startPayment(String id, String owner);

    /** The owner's claimed invoice was paid; false (and nothing changes) when the claim is not the owner's. */
    boolean markPaid(String id, String owner);

    /**
     * The owner's claimed invoice was not paid: it is UNPAID again for the next run, which first asks
     * payment-provider about it when {@code outcomeUnknown}. False when the claim is not the owner's.
     */
    boolean release(String id, String owner, boolean outcomeUnknown);

    /**
     * payment-provider refused the owner's claimed invoice for good (a 4xx): it becomes REFUSED and
     * no later run claims it. False when the claim is not the owner's.
     */
    boolean refuse(String id, String owner);
}
