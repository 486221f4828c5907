-- edoc-gateway schema 13 (SQLite): a package whose identity retention forgets leaves the
-- console's search too. package_subjects is an external-content FTS5 table, so a deleted
-- package_index row must be removed from it explicitly; the trigger does it for every delete.
CREATE TRIGGER package_index_on_forget AFTER DELETE ON package_index BEGIN
    INSERT INTO package_subjects (package_subjects, rowid, subject)
    VALUES ('delete', OLD.seq, OLD.subject)
    ; END;
