-- One row per invoice id. The primary key is what makes recording a payment idempotent across
-- replicas: a second insert for the same invoice finds the key taken and records nothing.
-- The checks repeat the request validation, so no other writer can store what the service would refuse.
CREATE TABLE payments (
    invoice_id  varchar(255)  NOT NULL,
    -- No fixed scale: the amount keeps the scale it was paid with (12.10 stays 12.10, 5 stays 5).
    amount      numeric       NOT NULL,
    currency    char(3)       NOT NULL,
    recorded_at timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT payments_pkey PRIMARY KEY (invoice_id),
    CONSTRAINT payments_invoice_id_not_empty CHECK (invoice_id <> ''),
    CONSTRAINT payments_amount_positive CHECK (amount > 0),
    CONSTRAINT payments_amount_in_cents CHECK (amount = round(amount, 2)),
    CONSTRAINT payments_amount_bounded CHECK (amount < 1000000000000000),
    CONSTRAINT payments_currency_iso_code CHECK (currency ~ '^[A-Z]{3}$')
);
