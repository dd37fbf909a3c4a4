-- Scheduled backups: one row per fire time of the schedule. The replica
-- whose INSERT wins runs that backup (the others see the conflict and
-- skip), and the row records how it went: what the backup metrics and the
-- "last successful backup" alert read, whichever replica is scraped.
CREATE TABLE backup_runs (
    slot              TIMESTAMPTZ PRIMARY KEY,
    holder            TEXT NOT NULL,
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ,
    ok                BOOLEAN,
    location          TEXT,
    bytes             BIGINT,
    error             TEXT,
    restore_tested_at TIMESTAMPTZ,
    restore_ok        BOOLEAN
);
