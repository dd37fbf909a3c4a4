-- The knowledge base and the bot (SQLite): articles with their history
-- (soft delete), article vectors for semantic search, each workspace's bot
-- settings, each bot turn, and the structured extras of bot messages.

ALTER TABLE messages ADD COLUMN meta TEXT; -- JSON (citations, choices), NULL for most

CREATE TABLE kb_articles (
    id           BLOB PRIMARY KEY NOT NULL,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    external_id  TEXT,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    questions    TEXT NOT NULL DEFAULT '[]', -- JSON array
    tags         TEXT NOT NULL DEFAULT '[]', -- JSON array
    category     TEXT,
    locale       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    version      INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT
);
-- external_id is unique among live articles of a workspace.
CREATE UNIQUE INDEX kb_articles_external_id ON kb_articles (workspace_id, external_id)
    WHERE external_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX kb_articles_by_workspace ON kb_articles (workspace_id, id);

CREATE TABLE kb_article_versions (
    article_id   BLOB NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    external_id  TEXT,
    content      TEXT NOT NULL, -- JSON snapshot of title, body, questions, tags, category, locale, status
    deleted      INTEGER NOT NULL DEFAULT 0,
    author_kind  TEXT NOT NULL,
    author_id    BLOB,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (article_id, version)
);

CREATE TABLE kb_embeddings (
    article_id   BLOB NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    version      INTEGER NOT NULL,
    vector       BLOB NOT NULL, -- little-endian f32s
    PRIMARY KEY (article_id, model)
);
CREATE INDEX kb_embeddings_by_workspace ON kb_embeddings (workspace_id, model);

CREATE TABLE bot_settings (
    workspace_id BLOB PRIMARY KEY NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    settings     TEXT NOT NULL -- JSON
);

CREATE TABLE bot_turns (
    id                  BLOB PRIMARY KEY NOT NULL,
    workspace_id        BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id     BLOB NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- One turn per visitor message: the claim that stops two replicas
    -- answering the same question.
    question_message_id BLOB NOT NULL UNIQUE,
    reply_message_id    BLOB,
    question            TEXT NOT NULL,
    decision            TEXT NOT NULL CHECK (decision IN ('answer', 'suggest', 'handoff')),
    confidence          REAL NOT NULL,
    reason              TEXT,
    articles            TEXT NOT NULL DEFAULT '[]', -- JSON array of article refs
    helpful             INTEGER,
    created_at          TEXT NOT NULL
);
CREATE INDEX bot_turns_by_conversation ON bot_turns (conversation_id, created_at);
