-- The owner's workspace export reads contacts and conversations in id
-- order, a page after a cursor: these keep each page a range read of the
-- workspace's own rows (messages are read through their unique
-- (conversation_id, seq) index).
CREATE INDEX contacts_by_workspace ON contacts (workspace_id, id);
CREATE INDEX conversations_by_workspace ON conversations (workspace_id, id);
