-- Keys the database keeps only sealed under the key-encryption key (KEK),
-- which is held outside it (a file or the environment): today the audit
-- chain's HMAC key, under the name `audit_chain`. See kefu_domain::secrets.
CREATE TABLE sealed_keys (
    name       TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
