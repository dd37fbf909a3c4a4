-- Live chat: inboxes, contacts, conversations and their sequence-numbered
-- message log (PostgreSQL).

CREATE TABLE inboxes (
    id              UUID PRIMARY KEY,
    workspace_id    UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('web')),
    widget_key      TEXT NOT NULL UNIQUE,
    identity_secret TEXT NOT NULL,
    allowed_origins TEXT NOT NULL DEFAULT '[]', -- JSON array of origins
    greeting        TEXT,
    bot_enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX inboxes_by_workspace ON inboxes (workspace_id);

CREATE TABLE contacts (
    id           UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    visitor_id   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, visitor_id)
);

CREATE TABLE conversations (
    id           UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    inbox_id     UUID NOT NULL REFERENCES inboxes (id),
    contact_id   UUID NOT NULL REFERENCES contacts (id),
    status       TEXT NOT NULL CHECK (status IN ('bot', 'queued', 'assigned', 'resolved', 'closed')),
    priority     INTEGER NOT NULL DEFAULT 0,
    assignee_id  UUID REFERENCES users (id),
    last_seq     BIGINT NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_by_status ON conversations (workspace_id, status, updated_at);
CREATE INDEX conversations_by_contact ON conversations (workspace_id, contact_id, inbox_id);

CREATE TABLE messages (
    id              UUID PRIMARY KEY,
    workspace_id    UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    sender_kind     TEXT NOT NULL CHECK (sender_kind IN ('visitor', 'agent', 'bot', 'system')),
    sender_id       UUID,
    body            TEXT NOT NULL,
    private         BOOLEAN NOT NULL DEFAULT FALSE,
    client_msg_id   TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (conversation_id, seq)
);
-- A sender's client_msg_id is stored once: the idempotency of sends.
CREATE UNIQUE INDEX messages_idempotency
    ON messages (workspace_id, sender_kind, sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
