-- edoc-gateway schema 16 (SQLite): small blobs inside the database (inline_blob_bytes), inserted
-- in the transaction of the package that names them, so an accept is one durable commit and no
-- blob file. written_at (microseconds) is refreshed whenever a package names the blob again:
-- the collector spares blobs younger than its grace, as it spares young files.
CREATE TABLE inline_blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    written_at INTEGER NOT NULL,
    data BLOB NOT NULL
);
