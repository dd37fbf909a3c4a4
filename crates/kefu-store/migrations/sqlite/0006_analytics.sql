-- What the analytics need to know about each conversation, kept as it
-- happens (so a summary is one indexed scan, not a replay of history),
-- and the visitor's satisfaction rating.
--
-- started_with_bot   it began in `bot` status (the bot's conversations)
-- human_at           it first reached people (queued or assigned)
-- first_response_at  the first public message of an agent
-- resolved_at        the latest resolution (cleared on reopen)
ALTER TABLE conversations ADD COLUMN started_with_bot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN human_at TEXT;
ALTER TABLE conversations ADD COLUMN first_response_at TEXT;
ALTER TABLE conversations ADD COLUMN resolved_at TEXT;
ALTER TABLE conversations ADD COLUMN rating_score INTEGER CHECK (rating_score BETWEEN 1 AND 5);
ALTER TABLE conversations ADD COLUMN rating_comment TEXT;
ALTER TABLE conversations ADD COLUMN rated_at TEXT;

-- Best-effort history for conversations that predate these columns.
UPDATE conversations SET
    started_with_bot = EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id AND m.sender_kind = 'bot'),
    first_response_at = (SELECT MIN(m.created_at) FROM messages m
        WHERE m.conversation_id = conversations.id AND m.sender_kind = 'agent' AND NOT m.private),
    resolved_at = CASE WHEN status IN ('resolved', 'closed') THEN updated_at END;
UPDATE conversations SET human_at = COALESCE(
    (SELECT MIN(a.created_at) FROM assignments a WHERE a.conversation_id = conversations.id),
    CASE WHEN NOT started_with_bot THEN created_at END);

CREATE INDEX conversations_by_created ON conversations (workspace_id, created_at);

-- Saved replies agents insert with `/shortcut`.
CREATE TABLE canned_responses (
    id           BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    shortcut     TEXT NOT NULL,
    title        TEXT,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (workspace_id, shortcut)
);

-- The append trigger (0004) also notes an agent's first public reply.
DROP TRIGGER messages_advance_seq;
CREATE TRIGGER messages_advance_seq AFTER INSERT ON messages
BEGIN
    UPDATE conversations SET last_seq = NEW.seq, updated_at = NEW.created_at,
        first_response_at = COALESCE(first_response_at,
            CASE WHEN NEW.sender_kind = 'agent' AND NOT NEW.private THEN NEW.created_at END)
    WHERE id = NEW.conversation_id;
END;

-- The agent's display name when they sent the message (the visitor sees it).
ALTER TABLE messages ADD COLUMN sender_name TEXT;
