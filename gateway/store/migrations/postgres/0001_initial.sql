-- edoc-gateway schema 1 (PostgreSQL). Times are microseconds since the Unix epoch, UTC.
CREATE TABLE agencies (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    email          TEXT NOT NULL DEFAULT '',
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    secret_version BIGINT NOT NULL,
    secret_hash    TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE nonces (
    agency  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
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
    size           BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
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
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id TEXT NOT NULL REFERENCES packages (id),
    recipient  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'failed')),
    reason     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    done_at    BIGINT,
    UNIQUE (package_id, recipient)
);
CREATE INDEX deliveries_mailbox ON deliveries (recipient, kind, state, seq);

CREATE TABLE traces (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id       TEXT NOT NULL,
    status_package_id TEXT NOT NULL REFERENCES packages (id),
    from_agency       TEXT NOT NULL,
    to_agency         TEXT NOT NULL,
    status_code       TEXT NOT NULL,
    description       TEXT NOT NULL,
    status_time       TEXT NOT NULL,
    recorded_at       BIGINT NOT NULL
);
CREATE INDEX traces_document ON traces (document_id, seq);
