package dev.paymesh.invoice;

import java.util.List;
import java.util.Optional;

/** Where invoices live. Claiming is atomic, so two pay runs never take the same invoice. */
public interface InvoiceStore {

    /** All invoices ordered by id, or only the paid (true) or unpaid (false) ones. */
    List<Invoice> list(Optional<Boolean> paid);

    Optional<Invoice> find(String id);

    /** Adds the invoice; false when one with its id exists. */
    boolean create(Invoice invoice);

    /** Moves every UNPAID invoice to PAYING and returns them; a concurrent caller gets the others. */
    List<Invoice> claimUnpaid();

    /** A claimed invoice was paid. */
    void markPaid(String id);

    /** A claimed invoice was not paid: it is UNPAID again for the next run. */
    void release(String id);
}
