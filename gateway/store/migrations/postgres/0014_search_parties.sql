-- edoc-gateway schema 14 (PostgreSQL): the sender's and the recipients' agency codes join the
-- subject words in one GIN index, so "subject word + sender" (or recipient) is one index scan:
-- GIN intersects the word's and the agency's posting lists, skipping through the long one,
-- where a word's GIN bitmap ANDed with the sender's B-tree read every match of the word.
--
-- package_index.parties holds 's:' || the sender's code and 'r:' || each recipient's code
-- (package_recipients), exact strings, searched with @> (array containment).
--
-- Filling the column rewrites every row of package_index (1M rows: about 2 minutes on the
-- benchmark VM); the old row versions stay until VACUUM (autovacuum, or by hand after the
-- upgrade of a large store).
--
-- Function bodies put each inner semicolon at the start of a line: the migration runner splits
-- a script on a semicolon at the end of a line.

CREATE FUNCTION edoc_parties(pid TEXT, sender TEXT) RETURNS TEXT[] LANGUAGE sql STABLE AS $$
    SELECT ARRAY['s:' || sender] || coalesce(
        (SELECT array_agg('r:' || r.recipient ORDER BY r.recipient)
         FROM package_recipients r WHERE r.package_id = pid), '{}')
$$;

DROP INDEX package_index_subject;
ALTER TABLE package_index ADD COLUMN parties TEXT[] NOT NULL DEFAULT '{}';
UPDATE package_index SET parties = edoc_parties(package_id, sender);
CREATE INDEX package_index_search ON package_index USING GIN (subject_search, parties);

-- The recipients are recorded first, so the index row is written once with all its parties.
CREATE OR REPLACE FUNCTION edoc_index_package() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    s JSONB := edoc_summary(NEW.summary_json)
    ; c TEXT := coalesce(s ->> 'code', '')
    ; BEGIN
    IF jsonb_typeof(s -> 'to') = 'array' THEN
        INSERT INTO package_recipients (recipient, package_id, received_at)
        SELECT DISTINCT t ->> 'organ_id', NEW.id, NEW.received_at
        FROM jsonb_array_elements(s -> 'to') t WHERE coalesce(t ->> 'organ_id', '') <> ''
        ON CONFLICT DO NOTHING
    ; END IF
    ; INSERT INTO package_index (package_id, kind, sender, document_id, code, code_key, subject,
                                 received_at, state, parties)
    VALUES (NEW.id, NEW.kind, NEW.sender, NEW.document_id, c,
            replace(translate(c, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), ' ', ''),
            coalesce(s ->> 'subject', s ->> 'description', ''), NEW.received_at, 'done',
            edoc_parties(NEW.id, NEW.sender))
    ; RETURN NULL
    ; END
$$;

-- A recipient added later (a delivery) or removed joins or leaves the package's parties; before
-- the package is indexed (above) there is no row to update.
CREATE FUNCTION edoc_index_recipient() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    pid TEXT := CASE WHEN TG_OP = 'DELETE' THEN OLD.package_id ELSE NEW.package_id END
    ; BEGIN
    UPDATE package_index SET parties = edoc_parties(package_id, sender) WHERE package_id = pid
    ; RETURN NULL
    ; END
$$;

CREATE TRIGGER package_recipients_on_change AFTER INSERT OR DELETE ON package_recipients
    FOR EACH ROW EXECUTE FUNCTION edoc_index_recipient();
