-- edoc-gateway schema 4 (PostgreSQL): the legacy eDoc dialect's numeric document ids, and an
-- index for reading the statuses addressed to an agency (GetTraces).
CREATE TABLE legacy_ids (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id TEXT NOT NULL UNIQUE REFERENCES packages (id)
);

CREATE INDEX traces_recipient ON traces (to_agency, recorded_at);
