-- REFUSED: payment-provider answered a 4xx for the invoice (409: another value under its id; 400).
-- Sending it again cannot help, so pay runs leave it alone until an operator sets it back to UNPAID.
ALTER TABLE invoice DROP CONSTRAINT invoice_state_check;
ALTER TABLE invoice ADD CONSTRAINT invoice_state_check CHECK (state IN ('UNPAID', 'PAYING', 'PAID', 'REFUSED'));
