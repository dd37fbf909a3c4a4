-- A workspace's synonym groups (issue 15): terms its visitors use for the
-- same thing (退货/退款, 发票/开票), which search adds to a query that
-- holds one of them. One row per workspace; `term_groups` is a JSON array of
-- arrays of terms, as validated by the service (kefu_service::kb::synonyms).
CREATE TABLE kb_synonyms (
    workspace_id BLOB PRIMARY KEY NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    term_groups  TEXT NOT NULL, -- JSON: [["退货", "退款"], ["发票", "开票"]]
    updated_at   TEXT NOT NULL
);
