-- Routing, contacts' profiles and read positions (SQLite): teams and their
-- members, agent presence and capacity, the queue's order and each
-- assignment's reason, conversation labels, contact fields, and how far each
-- participant has read.

ALTER TABLE inboxes ADD COLUMN business_hours TEXT; -- JSON, NULL = always open
ALTER TABLE inboxes ADD COLUMN offline_mode TEXT NOT NULL DEFAULT 'queue'
    CHECK (offline_mode IN ('queue', 'form'));

ALTER TABLE contacts ADD COLUMN external_id TEXT;
ALTER TABLE contacts ADD COLUMN name TEXT;
ALTER TABLE contacts ADD COLUMN email TEXT;
ALTER TABLE contacts ADD COLUMN phone TEXT;
ALTER TABLE contacts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN updated_at TEXT;
UPDATE contacts SET updated_at = created_at;
CREATE UNIQUE INDEX contacts_by_external_id ON contacts (workspace_id, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE teams (
    id           BLOB PRIMARY KEY NOT NULL,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE team_members (
    team_id      BLOB NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (workspace_id, user_id);

CREATE TABLE agent_presence (
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('online', 'away', 'offline')),
    capacity     INTEGER NOT NULL CHECK (capacity >= 0),
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);

ALTER TABLE conversations ADD COLUMN team_id BLOB REFERENCES teams (id) ON DELETE SET NULL;
ALTER TABLE conversations ADD COLUMN assignment_reason TEXT;
ALTER TABLE conversations ADD COLUMN queued_at TEXT;
ALTER TABLE conversations ADD COLUMN labels TEXT NOT NULL DEFAULT '[]'; -- JSON array
UPDATE conversations SET queued_at = updated_at WHERE status = 'queued';
CREATE INDEX conversations_queue ON conversations (workspace_id, status, priority, queued_at);
CREATE INDEX conversations_by_assignee ON conversations (workspace_id, assignee_id, status);

CREATE TABLE assignments (
    id              BLOB PRIMARY KEY NOT NULL,
    workspace_id    BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id BLOB NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    assignee_id     BLOB,
    team_id         BLOB,
    reason          TEXT NOT NULL,
    actor_id        BLOB,
    waited_ms       INTEGER,
    created_at      TEXT NOT NULL
);
CREATE INDEX assignments_by_conversation ON assignments (conversation_id, created_at);
CREATE INDEX assignments_recent ON assignments (workspace_id, created_at);

CREATE TABLE read_positions (
    workspace_id    BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id BLOB NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reader_id       BLOB NOT NULL, -- a contact or a user
    seq             INTEGER NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (conversation_id, reader_id)
);
