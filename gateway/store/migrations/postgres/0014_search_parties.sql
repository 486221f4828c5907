-- edoc-gateway schema 14 (PostgreSQL): nothing to change. The SQLite schema puts the sender's
-- and recipients' codes into its FTS5 index, so a common subject word with one agency is one
-- MATCH; here the planner already combines the GIN index of the words with the B-tree of
-- (sender, seq) and the recipients' rows.
SELECT 1;
