-- edoc-gateway schema 9 (SQLite): retention (gateway/store/retention.py).
-- purged_at: when the package lost its content (0: never). The row keeps the package's identity
-- (sender, document, duplicate key, content hash) and its receipt, so a resend is still answered
-- as a duplicate until retention_duplicate_days; then the row and its dependants are forgotten.
ALTER TABLE packages ADD COLUMN purged_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX packages_retention ON packages (kind, purged_at, received_at);

-- The blob collector asks, blob by blob, whether any package still needs it.
CREATE INDEX package_blobs_blob ON package_blobs (blob_sha256);
