-- The operations gauges count queued conversations across every workspace
-- on a timer; this keeps that a read of the (few) queued rows, not a scan
-- of every conversation ever held.
CREATE INDEX conversations_queued ON conversations (team_id) WHERE status = 'queued';
