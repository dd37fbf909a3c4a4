-- An owner or admin can require a member to choose a new password: signing
-- in is refused until they do (issue 14, finding 8).
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;
