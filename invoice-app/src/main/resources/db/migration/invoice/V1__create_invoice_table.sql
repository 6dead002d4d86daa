-- One row per invoice. A pay run moves UNPAID to PAYING under its own claim (claimed_by, claimed_at),
-- then to PAID, or back to UNPAID. outcome_unknown: a payment may have been sent without a known
-- answer, so the next run asks payment-provider (GET /payments/{id}) before paying again.
CREATE TABLE invoice (
    -- "C" collation: ids sort by their bytes, as the in-memory store sorts them.
    id              VARCHAR(64) COLLATE "C" PRIMARY KEY,
    -- Unconstrained NUMERIC keeps the scale the client sent (7.50 stays 7.50).
    amount          NUMERIC     NOT NULL CHECK (amount > 0),
    currency        CHAR(3)     NOT NULL,
    state           VARCHAR(7)  NOT NULL DEFAULT 'UNPAID' CHECK (state IN ('UNPAID', 'PAYING', 'PAID')),
    outcome_unknown BOOLEAN     NOT NULL DEFAULT FALSE,
    claimed_by      TEXT,
    claimed_at      TIMESTAMPTZ,
    paid_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invoice_paying_is_claimed CHECK (state <> 'PAYING' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL))
);

-- Pay runs look only at invoices not yet paid.
CREATE INDEX invoice_open ON invoice (state, claimed_at) WHERE state <> 'PAID';
