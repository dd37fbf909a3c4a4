-- Blocking: a contact (their widget is refused) and a workspace's refused
-- address ranges.
ALTER TABLE contacts ADD COLUMN blocked_at TEXT;
CREATE TABLE blocked_ranges (
    id           BLOB PRIMARY KEY NOT NULL,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    cidr         TEXT NOT NULL,
    note         TEXT,
    created_at   TEXT NOT NULL,
    UNIQUE (workspace_id, cidr)
);
