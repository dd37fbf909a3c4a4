-- Files and images sent in conversations: the record of each upload (the
-- bytes are in the blob store, under the attachment's id). An upload is
-- unattached (no conversation, no message) until its uploader sends it.
CREATE TABLE attachments (
    id              UUID PRIMARY KEY,
    workspace_id    UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    uploader_kind   TEXT NOT NULL CHECK (uploader_kind IN ('visitor', 'agent')),
    uploader_id     UUID NOT NULL,
    conversation_id UUID REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      UUID,
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    bytes           BIGINT NOT NULL CHECK (bytes >= 0),
    sha256          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachments_by_workspace ON attachments (workspace_id, created_at);
CREATE INDEX attachments_by_conversation ON attachments (conversation_id);
