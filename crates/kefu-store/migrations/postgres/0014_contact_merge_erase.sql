-- Contacts merged into another stay, pointing at the survivor, so that the
-- browser's visitor id and the site's external id still lead to it; erased
-- contacts keep their row (their conversations stay) with the time of the
-- erasure. No foreign key on merged_into: a restore inserts contacts in id
-- order, and a survivor may be newer than the contact merged into it.
ALTER TABLE contacts ADD COLUMN merged_into UUID;
ALTER TABLE contacts ADD COLUMN erased_at TIMESTAMPTZ;
-- The contact list: newest first, a page at a time.
CREATE INDEX contacts_by_created ON contacts (workspace_id, created_at, id);
