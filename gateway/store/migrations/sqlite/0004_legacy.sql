-- edoc-gateway schema 4 (SQLite): the legacy eDoc dialect's numeric document ids, and an index
-- for reading the statuses addressed to an agency (GetTraces).
CREATE TABLE legacy_ids (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id TEXT NOT NULL UNIQUE REFERENCES packages (id)
);

CREATE INDEX traces_recipient ON traces (to_agency, recorded_at);
