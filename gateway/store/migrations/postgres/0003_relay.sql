-- edoc-gateway schema 3 (PostgreSQL): agency directory, relay outbox, poller leases.

-- Agencies reached through an upstream (local agencies are the `agencies` table).
CREATE TABLE directory (
    code       TEXT PRIMARY KEY,           -- QCVN 102:2016 code, or the QĐ 20 code if that is all there is
    code_qd20  TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    email      TEXT NOT NULL DEFAULT '',
    parent     TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL CHECK (kind IN ('upstream', 'peer')),
    upstream   TEXT NOT NULL,
    source     TEXT NOT NULL,              -- sync, manual, learned
    updated_at BIGINT NOT NULL
);
CREATE INDEX directory_qd20 ON directory (code_qd20);

-- One row per (package, upstream): the bundled edXML to send and its delivery state.
CREATE TABLE outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id       TEXT NOT NULL REFERENCES packages (id),
    upstream         TEXT NOT NULL,
    kind             TEXT NOT NULL,
    sender           TEXT NOT NULL,
    recipients       TEXT NOT NULL,        -- comma-separated codes this upstream delivers to
    document_key     TEXT NOT NULL,        -- the document the package is about (ordering)
    blob_sha256      TEXT NOT NULL,
    size             BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'dead', 'cancelled')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_expires_at BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    remote_id        TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (package_id, upstream)
);
CREATE INDEX outbox_due ON outbox (state, upstream, next_attempt_at);
CREATE INDEX outbox_document ON outbox (upstream, document_key, state, id);

-- Named leases: one inbound poller per upstream across nodes.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
