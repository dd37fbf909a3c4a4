-- The knowledge base and the bot (PostgreSQL): articles with their history
-- (soft delete), article vectors for semantic search, each workspace's bot
-- settings, each bot turn, and the structured extras of bot messages.

ALTER TABLE messages ADD COLUMN meta TEXT; -- JSON (citations, choices), NULL for most

CREATE TABLE kb_articles (
    id           UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    external_id  TEXT,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    questions    TEXT NOT NULL DEFAULT '[]', -- JSON array
    tags         TEXT NOT NULL DEFAULT '[]', -- JSON array
    category     TEXT,
    locale       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    version      BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    deleted_at   TIMESTAMPTZ
);
-- external_id is unique among live articles of a workspace.
CREATE UNIQUE INDEX kb_articles_external_id ON kb_articles (workspace_id, external_id)
    WHERE external_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX kb_articles_by_workspace ON kb_articles (workspace_id, id);

CREATE TABLE kb_article_versions (
    article_id   UUID NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    workspace_id UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    external_id  TEXT,
    content      TEXT NOT NULL, -- JSON snapshot of title, body, questions, tags, category, locale, status
    deleted      BOOLEAN NOT NULL DEFAULT FALSE,
    author_kind  TEXT NOT NULL,
    author_id    UUID,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (article_id, version)
);

CREATE TABLE kb_embeddings (
    article_id   UUID NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    workspace_id UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    version      BIGINT NOT NULL,
    vector       BYTEA NOT NULL, -- little-endian f32s
    PRIMARY KEY (article_id, model)
);
CREATE INDEX kb_embeddings_by_workspace ON kb_embeddings (workspace_id, model);

CREATE TABLE bot_settings (
    workspace_id UUID PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    settings     TEXT NOT NULL -- JSON
);

CREATE TABLE bot_turns (
    id                  UUID PRIMARY KEY,
    workspace_id        UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id     UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- One turn per visitor message: the claim that stops two replicas
    -- answering the same question.
    question_message_id UUID NOT NULL UNIQUE,
    reply_message_id    UUID,
    question            TEXT NOT NULL,
    decision            TEXT NOT NULL CHECK (decision IN ('answer', 'suggest', 'handoff')),
    confidence          REAL NOT NULL,
    reason              TEXT,
    articles            TEXT NOT NULL DEFAULT '[]', -- JSON array of article refs
    helpful             BOOLEAN,
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX bot_turns_by_conversation ON bot_turns (conversation_id, created_at);
