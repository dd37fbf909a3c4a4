-- Single sign-on with OpenID Connect (issue 14, hardening point 16).
--
-- One identity provider per workspace. `client_secret` holds the sealed
-- secret (kefu_service::sso::secret), never the plain text.
CREATE TABLE oidc_configs (
    workspace_id  BLOB PRIMARY KEY NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    jit_domains   TEXT NOT NULL,
    jit_role      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Sign-ins under way: what the callback needs (nonce, PKCE verifier), found
-- by the digest of `state`, spent once (DELETE … RETURNING), so any replica
-- can finish a sign-in another one started.
CREATE TABLE oidc_logins (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    workspace_id  BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX oidc_logins_by_expiry ON oidc_logins (expires_at);

-- Who the provider of a workspace says a user is: (issuer, sub) per
-- workspace, so one workspace's provider can never name a user of another.
CREATE TABLE oidc_identities (
    workspace_id  BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT,
    created_at    TEXT NOT NULL,
    last_login_at TEXT NOT NULL,
    PRIMARY KEY (workspace_id, issuer, subject)
);
CREATE INDEX oidc_identities_by_user ON oidc_identities (user_id);

-- A session opened by single sign-on is good for the workspace whose
-- provider vouched for it only; `sso_mfa` records whether the provider
-- said the user passed a second factor (the ID token's `amr`).
ALTER TABLE sessions ADD COLUMN sso_workspace_id BLOB REFERENCES workspaces (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN sso_mfa INTEGER NOT NULL DEFAULT 0;
