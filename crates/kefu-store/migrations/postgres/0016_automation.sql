-- What an inbox does by itself: auto-resolve, the away message, the
-- pre-chat form (one JSON document, NULL = none of them).
ALTER TABLE inboxes ADD COLUMN automation TEXT;
-- A conversation put aside until a time (a visitor's message wakes it).
ALTER TABLE conversations ADD COLUMN snoozed_until TIMESTAMPTZ;
CREATE INDEX conversations_snoozed ON conversations (snoozed_until)
    WHERE snoozed_until IS NOT NULL;
-- The visitor's latest visit as the widget reports it (page, referrer,
-- browser, locale, pages viewed; JSON).
ALTER TABLE contacts ADD COLUMN last_visit TEXT;
-- The presence timeout: when an agent's sockets were last seen, and the
-- status the timeout took from them (given back when they reconnect).
ALTER TABLE agent_presence ADD COLUMN last_seen_at TIMESTAMPTZ;
ALTER TABLE agent_presence ADD COLUMN timed_out_from TEXT
    CHECK (timed_out_from IN ('online', 'away'));
