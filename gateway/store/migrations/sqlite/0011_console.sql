-- edoc-gateway schema 11 (SQLite): the web console's operators, sessions and sign-in attempts,
-- and the document tracker's search index.
--
-- Trigger bodies put each inner semicolon at the start of a line: the migration runner splits
-- a script on a semicolon at the end of a line.

CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash TEXT NOT NULL,            -- argon2id, never the password
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- A signed-in browser: the cookie carries a random token, only its SHA-256 is kept.
CREATE TABLE console_sessions (
    token_sha256 TEXT PRIMARY KEY,
    operator     TEXT NOT NULL REFERENCES operators (name),
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX console_sessions_operator ON console_sessions (operator);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Sign-in attempts, for throttling across worker processes and nodes.
CREATE TABLE console_sign_ins (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL,
    address TEXT NOT NULL,
    at      INTEGER NOT NULL,
    ok      INTEGER NOT NULL
);
CREATE INDEX console_sign_ins_name ON console_sign_ins (name, at);
CREATE INDEX console_sign_ins_address ON console_sign_ins (address, at);

-- One row per package: what the tracker searches. Filled by triggers, so every write path
-- (intake, relay, mailbox) keeps it current without knowing it exists.
-- code: Số, ký hiệu as written (7/UBND-VP); code_key: ASCII-lower-cased, spaces removed.
-- Pages run newest first by seq (the order packages were received and indexed).
-- state: dead > failed > queued > pending > cancelled > done (the most urgent one wins).
CREATE TABLE package_index (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id  TEXT NOT NULL UNIQUE REFERENCES packages (id),
    kind        TEXT NOT NULL,
    sender      TEXT NOT NULL,
    document_id TEXT NOT NULL,
    code        TEXT NOT NULL,
    code_key    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state       TEXT NOT NULL
);
CREATE INDEX package_index_received ON package_index (received_at);
CREATE INDEX package_index_document ON package_index (document_id, seq);
CREATE INDEX package_index_code ON package_index (code_key, seq);
CREATE INDEX package_index_sender ON package_index (sender, seq);
CREATE INDEX package_index_state ON package_index (state, seq);

CREATE TABLE package_recipients (
    recipient   TEXT NOT NULL,
    package_id  TEXT NOT NULL REFERENCES packages (id),
    received_at INTEGER NOT NULL,
    PRIMARY KEY (recipient, package_id)
);
CREATE INDEX package_recipients_received ON package_recipients (recipient, received_at);
CREATE INDEX package_recipients_package ON package_recipients (package_id);

-- Subject words, diacritics folded (van ban finds văn bản).
CREATE VIRTUAL TABLE package_subjects USING fts5(
    subject, content = 'package_index', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE VIEW package_state AS
SELECT p.id AS package_id,
       CASE
           WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.package_id = p.id AND o.state = 'dead') THEN 'dead'
           WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.package_id = p.id AND d.state = 'failed') THEN 'failed'
           WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.package_id = p.id AND o.state = 'queued') THEN 'queued'
           WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.package_id = p.id AND d.state = 'pending') THEN 'pending'
           WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.package_id = p.id AND o.state = 'cancelled') THEN 'cancelled'
           ELSE 'done'
       END AS state
FROM packages p;

CREATE VIEW package_index_source AS
SELECT p.id AS package_id, p.kind, p.sender, p.document_id, p.received_at,
       CASE WHEN json_valid(p.summary_json)
            THEN coalesce(json_extract(p.summary_json, '$.code'), '') ELSE '' END AS code,
       CASE WHEN json_valid(p.summary_json)
            THEN coalesce(json_extract(p.summary_json, '$.subject'),
                          json_extract(p.summary_json, '$.description'), '')
            ELSE '' END AS subject
FROM packages p;

CREATE TRIGGER package_index_on_package AFTER INSERT ON packages BEGIN
    INSERT INTO package_index (package_id, kind, sender, document_id, code, code_key, subject,
                               received_at, state)
    SELECT s.package_id, s.kind, s.sender, s.document_id, s.code,
           replace(lower(s.code), ' ', ''), s.subject, s.received_at, 'done'
    FROM package_index_source s WHERE s.package_id = NEW.id
    ; INSERT INTO package_subjects (rowid, subject)
    SELECT seq, subject FROM package_index WHERE package_id = NEW.id
    ; INSERT OR IGNORE INTO package_recipients (recipient, package_id, received_at)
    SELECT json_extract(t.value, '$.organ_id'), NEW.id, NEW.received_at
    FROM json_each(CASE WHEN json_valid(NEW.summary_json) THEN NEW.summary_json ELSE '{}' END, '$.to') t
    WHERE coalesce(json_extract(t.value, '$.organ_id'), '') <> ''
    ; END;

CREATE TRIGGER package_index_on_delivery AFTER INSERT ON deliveries BEGIN
    INSERT OR IGNORE INTO package_recipients (recipient, package_id, received_at)
    SELECT NEW.recipient, p.id, p.received_at FROM packages p WHERE p.id = NEW.package_id
    ; UPDATE package_index SET state = (
        SELECT state FROM package_state WHERE package_id = NEW.package_id
    ) WHERE package_id = NEW.package_id
    ; END;

CREATE TRIGGER package_index_on_delivery_state AFTER UPDATE OF state ON deliveries BEGIN
    UPDATE package_index SET state = (
        SELECT state FROM package_state WHERE package_id = NEW.package_id
    ) WHERE package_id = NEW.package_id
    ; END;

CREATE TRIGGER package_index_on_outbox AFTER INSERT ON outbox BEGIN
    UPDATE package_index SET state = (
        SELECT state FROM package_state WHERE package_id = NEW.package_id
    ) WHERE package_id = NEW.package_id
    ; END;

CREATE TRIGGER package_index_on_outbox_state AFTER UPDATE OF state ON outbox BEGIN
    UPDATE package_index SET state = (
        SELECT state FROM package_state WHERE package_id = NEW.package_id
    ) WHERE package_id = NEW.package_id
    ; END;

-- Backfill what an earlier schema stored.
INSERT INTO package_index (package_id, kind, sender, document_id, code, code_key, subject,
                           received_at, state)
SELECT s.package_id, s.kind, s.sender, s.document_id, s.code, replace(lower(s.code), ' ', ''),
       s.subject, s.received_at, st.state
FROM package_index_source s JOIN package_state st ON st.package_id = s.package_id
ORDER BY s.received_at, s.package_id;
INSERT INTO package_subjects (package_subjects) VALUES ('rebuild');
INSERT OR IGNORE INTO package_recipients (recipient, package_id, received_at)
SELECT json_extract(t.value, '$.organ_id'), p.id, p.received_at
FROM packages p, json_each(CASE WHEN json_valid(p.summary_json) THEN p.summary_json ELSE '{}' END, '$.to') t
WHERE coalesce(json_extract(t.value, '$.organ_id'), '') <> '';
INSERT OR IGNORE INTO package_recipients (recipient, package_id, received_at)
SELECT d.recipient, p.id, p.received_at FROM deliveries d JOIN packages p ON p.id = d.package_id;

-- A package's timeline reads its audit records (relay attempts, deliveries, console changes).
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
