-- edoc-gateway schema 8 (PostgreSQL): the PostgreSQL blob backend (blob_backend = "postgres").
-- A blob is one row here (its SHA-256 address and size) and its bytes in blob_chunks, at most
-- chunk_size bytes a row, so it streams both ways (gateway/store/blobs_pg.py). The blob row and
-- its chunks commit in one transaction: a blob is visible wholly or not at all.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    chunk_size INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE blob_chunks (
    sha256 TEXT NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (sha256, seq)
);

-- Stored out of line and uncompressed: attachments are mostly compressed already (PDF, ZIP,
-- signed XML is compressed by nothing useful), and pglz would cost CPU on every chunk.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
