-- edoc-gateway schema 14 (SQLite): the sender's and the recipients' agency codes join the
-- subject words in the console's FTS5 index, so "subject word + sender" (or recipient) is one
-- MATCH: FTS5 intersects the word's and the agency's doclists instead of walking every match
-- of a common word to test its sender.
--
-- package_index.parties holds one token per party: 's' + the hex of the sender's code, 'r' +
-- the hex of each recipient's code (package_recipients). Hex keeps a code one token for the
-- unicode61 tokenizer (which would split 000.00.01.H53 at the dots) and exact (case and
-- punctuation survive, no two codes share a token).
--
-- Trigger bodies put each inner semicolon at the start of a line: the migration runner splits
-- a script on a semicolon at the end of a line.

DROP TRIGGER package_index_on_package;
DROP TRIGGER package_index_on_forget;
DROP TABLE package_subjects;

ALTER TABLE package_index ADD COLUMN parties TEXT NOT NULL DEFAULT '';

-- Each package's parties as the index holds them: the one place that spells the tokens.
CREATE VIEW package_parties AS
SELECT p.id AS package_id, 's' || lower(hex(p.sender)) || coalesce(
    (SELECT ' ' || group_concat('r' || lower(hex(r.recipient)), ' ')
     FROM package_recipients r WHERE r.package_id = p.id), '') AS parties
FROM packages p;

UPDATE package_index SET parties = (
    SELECT v.parties FROM package_parties v WHERE v.package_id = package_index.package_id);

-- Subject words, diacritics folded (van ban finds văn bản), and the parties' tokens.
CREATE VIRTUAL TABLE package_subjects USING fts5(
    subject, parties, content = 'package_index', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO package_subjects (package_subjects) VALUES ('rebuild');

-- The recipients are recorded first, so the index row is written once with all its parties.
CREATE TRIGGER package_index_on_package AFTER INSERT ON packages BEGIN
    INSERT OR IGNORE INTO package_recipients (recipient, package_id, received_at)
    SELECT json_extract(t.value, '$.organ_id'), NEW.id, NEW.received_at
    FROM json_each(CASE WHEN json_valid(NEW.summary_json) THEN NEW.summary_json ELSE '{}' END, '$.to') t
    WHERE coalesce(json_extract(t.value, '$.organ_id'), '') <> ''
    ; INSERT INTO package_index (package_id, kind, sender, document_id, code, code_key, subject,
                                 received_at, state, parties)
    SELECT s.package_id, s.kind, s.sender, s.document_id, s.code,
           replace(lower(s.code), ' ', ''), s.subject, s.received_at, 'done', v.parties
    FROM package_index_source s JOIN package_parties v ON v.package_id = s.package_id
    WHERE s.package_id = NEW.id
    ; INSERT INTO package_subjects (rowid, subject, parties)
    SELECT seq, subject, parties FROM package_index WHERE package_id = NEW.id
    ; END;

-- A recipient added later (a delivery) or removed joins or leaves the package's parties; before
-- the package is indexed (the trigger above) there is no row to update.
CREATE TRIGGER package_recipients_on_insert AFTER INSERT ON package_recipients BEGIN
    UPDATE package_index SET parties = (
        SELECT v.parties FROM package_parties v WHERE v.package_id = NEW.package_id)
    WHERE package_id = NEW.package_id
    ; END;

CREATE TRIGGER package_recipients_on_delete AFTER DELETE ON package_recipients BEGIN
    UPDATE package_index SET parties = (
        SELECT v.parties FROM package_parties v WHERE v.package_id = OLD.package_id)
    WHERE package_id = OLD.package_id
    ; END;

-- package_subjects is an external-content table: a changed row is deleted with the values it
-- was indexed with, then indexed again (state changes touch neither column and skip this).
CREATE TRIGGER package_index_on_words AFTER UPDATE OF subject, parties ON package_index BEGIN
    INSERT INTO package_subjects (package_subjects, rowid, subject, parties)
    VALUES ('delete', OLD.seq, OLD.subject, OLD.parties)
    ; INSERT INTO package_subjects (rowid, subject, parties)
    VALUES (NEW.seq, NEW.subject, NEW.parties)
    ; END;

CREATE TRIGGER package_index_on_forget AFTER DELETE ON package_index BEGIN
    INSERT INTO package_subjects (package_subjects, rowid, subject, parties)
    VALUES ('delete', OLD.seq, OLD.subject, OLD.parties)
    ; END;
