-- edoc-gateway schema 1 (SQLite). Times are microseconds since the Unix epoch, UTC.
CREATE TABLE agencies (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    email          TEXT NOT NULL DEFAULT '',
    enabled        INTEGER NOT NULL DEFAULT 1,
    secret_version INTEGER NOT NULL,
    secret_hash    TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE nonces (
    agency  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (agency, nonce)
);
CREATE INDEX nonces_seen_at ON nonces (seen_at);

CREATE TABLE packages (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('document', 'status')),
    sender         TEXT NOT NULL,
    document_id    TEXT NOT NULL,
    dedupe_key     TEXT NOT NULL UNIQUE,
    content_sha256 TEXT NOT NULL,
    blob_sha256    TEXT NOT NULL,
    size           INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    summary_json   TEXT NOT NULL,
    warnings_json  TEXT NOT NULL
);
CREATE INDEX packages_sender_document ON packages (sender, document_id);

-- Every blob a package needs (its normalised edXML and its attachments): what a cleaner keeps.
CREATE TABLE package_blobs (
    package_id  TEXT NOT NULL REFERENCES packages (id),
    blob_sha256 TEXT NOT NULL,
    PRIMARY KEY (package_id, blob_sha256)
);

CREATE TABLE deliveries (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id TEXT NOT NULL REFERENCES packages (id),
    recipient  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'failed')),
    reason     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    done_at    INTEGER,
    UNIQUE (package_id, recipient)
);
CREATE INDEX deliveries_mailbox ON deliveries (recipient, kind, state, seq);

CREATE TABLE traces (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id       TEXT NOT NULL,
    status_package_id TEXT NOT NULL REFERENCES packages (id),
    from_agency       TEXT NOT NULL,
    to_agency         TEXT NOT NULL,
    status_code       TEXT NOT NULL,
    description       TEXT NOT NULL,
    status_time       TEXT NOT NULL,
    recorded_at       INTEGER NOT NULL
);
CREATE INDEX traces_document ON traces (document_id, seq);
