-- Which version of an article a vector is for, without reading the vector:
-- the embedding worker's "what is missing" and kb/status join on it, and
-- reading the table row pulled a page of vector data per article (40 MB per
-- pass at 10,000 articles).
CREATE INDEX kb_embeddings_versions ON kb_embeddings (article_id, model, version);
