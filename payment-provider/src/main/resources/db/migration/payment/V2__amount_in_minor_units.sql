-- Amounts are held with their currency's minor units (ISO 4217), which the service checks per
-- currency: KWD has three decimals and CLF four, so the table's own bound moves from two to four,
-- the most any currency has.
ALTER TABLE payments DROP CONSTRAINT payments_amount_in_cents;
ALTER TABLE payments ADD CONSTRAINT payments_amount_in_minor_units CHECK (amount = round(amount, 4));
