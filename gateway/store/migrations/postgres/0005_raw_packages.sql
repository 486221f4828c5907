-- edoc-gateway schema 5 (PostgreSQL): raw received bytes kept, signatures re-verified later.
-- raw_sha256: the blob holding the package exactly as received ('' when none is kept).
-- origin: 'received' (bytes from a client or upstream), 'built' (by the gateway from fields),
-- '' (accepted before schema 5: raw bytes were not kept).
ALTER TABLE packages ADD COLUMN raw_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN origin TEXT NOT NULL DEFAULT '';
CREATE INDEX packages_received_at ON packages (received_at, id);

-- Every later signature check; packages.signature_json keeps the verdict given on arrival.
CREATE TABLE signature_checks (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id      TEXT NOT NULL REFERENCES packages (id),
    checked_at      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    previous_status TEXT NOT NULL,
    trust_domain    TEXT NOT NULL,
    signature_json  TEXT NOT NULL
);
CREATE INDEX signature_checks_package ON signature_checks (package_id, seq);
