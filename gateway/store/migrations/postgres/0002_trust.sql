-- edoc-gateway schema 2 (PostgreSQL): the hash-chained audit log; signature results and receipts.
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,  -- assigned by the chain: contiguous from 1
    at           BIGINT NOT NULL,
    event        TEXT NOT NULL,
    actor        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    details_json TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);

ALTER TABLE packages ADD COLUMN signature_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE packages ADD COLUMN receipt_sha256 TEXT NOT NULL DEFAULT '';
