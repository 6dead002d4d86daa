-- The three invoices every installation starts with, as the in-memory store has them.
INSERT INTO invoice (id, amount, currency) VALUES
    ('I1', 12.15, 'EUR'),
    ('I2', 10.25, 'GBP'),
    ('I3', 66.13, 'DKK');
