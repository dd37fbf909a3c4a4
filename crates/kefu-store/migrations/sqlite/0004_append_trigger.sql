-- Appending a message is one statement (SQLite): `INSERT INTO messages …
-- SELECT … c.last_seq + 1 FROM conversations c`, and this trigger moves the
-- conversation's last_seq (and activity time) along inside that statement.
-- One round trip to the single writer instead of a five-statement
-- transaction; a failed insert (a resent client_msg_id) rolls the whole
-- statement back, trigger included, so seqs stay gap-free.
CREATE TRIGGER messages_advance_seq AFTER INSERT ON messages
BEGIN
    UPDATE conversations SET last_seq = NEW.seq, updated_at = NEW.created_at
    WHERE id = NEW.conversation_id;
END;
