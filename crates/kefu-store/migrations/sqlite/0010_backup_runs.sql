-- Scheduled backups: one row per fire time of the schedule. The replica
-- whose INSERT wins runs that backup (the others see the conflict and
-- skip), and the row records how it went: what the backup metrics and the
-- "last successful backup" alert read, whichever replica is scraped.
CREATE TABLE backup_runs (
    slot              TEXT PRIMARY KEY NOT NULL,
    holder            TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    ok                INTEGER,
    location          TEXT,
    bytes             INTEGER,
    error             TEXT,
    restore_tested_at TEXT,
    restore_ok        INTEGER
);
