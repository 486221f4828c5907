-- edoc-gateway schema 16 (PostgreSQL): small blobs inside the database (inline_blob_bytes),
-- inserted in the transaction of the package that names them, so an accept is one commit and no
-- separate blob write. written_at (microseconds) is refreshed whenever a package names the blob
-- again: the collector spares blobs younger than its grace.
CREATE TABLE inline_blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    written_at BIGINT NOT NULL,
    data BYTEA NOT NULL
);
-- Uncompressed, as blob_chunks: attachments are mostly compressed already.
ALTER TABLE inline_blobs ALTER COLUMN data SET STORAGE EXTERNAL;
