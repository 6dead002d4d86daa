-- Pay runs claim in batches ordered by id, each after the previous batch's last id: this index holds
-- only the invoices a run may claim, so a batch reads those rows and none of the paid history.
CREATE INDEX invoice_claimable ON invoice (id) WHERE state IN ('UNPAID', 'PAYING');
