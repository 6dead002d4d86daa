-- Pay runs started with Prefer: respond-async, so that any replica can answer a poll for one.
-- updated_at moves with every batch; a RUNNING row that stopped moving for two claim leases lost
-- its replica and is reported as interrupted.
CREATE TABLE pay_run (
    id          TEXT        PRIMARY KEY,
    state       VARCHAR(11) NOT NULL DEFAULT 'RUNNING' CHECK (state IN ('RUNNING', 'DONE', 'INTERRUPTED')),
    paid        INTEGER     NOT NULL DEFAULT 0,
    failed      INTEGER     NOT NULL DEFAULT 0,
    -- Once DONE: the status and JSON text of the answer a synchronous run would have given.
    status      INTEGER,
    answer      TEXT,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX pay_run_started ON pay_run (started_at);
