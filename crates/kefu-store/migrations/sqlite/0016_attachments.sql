-- Files and images sent in conversations: the record of each upload (the
-- bytes are in the blob store, under the attachment's id). An upload is
-- unattached (no conversation, no message) until its uploader sends it.
CREATE TABLE attachments (
    id              BLOB PRIMARY KEY NOT NULL,
    workspace_id    BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    uploader_kind   TEXT NOT NULL CHECK (uploader_kind IN ('visitor', 'agent')),
    uploader_id     BLOB NOT NULL,
    conversation_id BLOB REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      BLOB,
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    bytes           INTEGER NOT NULL CHECK (bytes >= 0),
    sha256          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX attachments_by_workspace ON attachments (workspace_id, created_at);
CREATE INDEX attachments_by_conversation ON attachments (conversation_id);
