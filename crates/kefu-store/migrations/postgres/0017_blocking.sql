-- Blocking: a contact (their widget is refused) and a workspace's refused
-- address ranges.
ALTER TABLE contacts ADD COLUMN blocked_at TIMESTAMPTZ;
CREATE TABLE blocked_ranges (
    id           UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    cidr         TEXT NOT NULL,
    note         TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, cidr)
);
