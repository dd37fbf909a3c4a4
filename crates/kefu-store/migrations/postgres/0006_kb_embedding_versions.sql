-- Which version of an article a vector is for, without reading the vector
-- (an index-only scan for the embedding worker's "what is missing" and for
-- kb/status).
CREATE INDEX kb_embeddings_versions ON kb_embeddings (article_id, model, version);
