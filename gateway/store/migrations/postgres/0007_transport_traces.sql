-- edoc-gateway schema 7 (PostgreSQL): transport outcomes in the sender's traces.
-- kind: 'status' for a status package a receiver sent (every row before schema 7), 'transport'
-- for the gateway's own report on relaying a package (a dead letter, a permanent refusal by the
-- upstream, a later delivery after a retry). A transport row is never a status from the receiver:
-- its status_code is empty, from_agency is the gateway (gateway_id), to_agency the package's
-- sender, status_package_id the package the outcome is about.
ALTER TABLE traces ADD COLUMN kind TEXT NOT NULL DEFAULT 'status' CHECK (kind IN ('status', 'transport'));
-- outcome: 'failed' (the package will not reach recipients) or 'delivered' (it reached the upstream
-- after an earlier failure was reported); '' for a status.
ALTER TABLE traces ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
-- error_code: the upstream's code (e.g. M.Vxp.18) or the gateway's own; '' for a status.
ALTER TABLE traces ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
-- recipients: comma-separated codes the outcome is about; upstream: the upstream's name.
ALTER TABLE traces ADD COLUMN recipients TEXT NOT NULL DEFAULT '';
ALTER TABLE traces ADD COLUMN upstream TEXT NOT NULL DEFAULT '';

-- The stable code of the last failure (the upstream's own where it gave one), beside its text.
ALTER TABLE outbox ADD COLUMN last_error_code TEXT NOT NULL DEFAULT '';

-- The transport rows of one package (a retry that succeeds looks up the failure it follows).
CREATE INDEX traces_package ON traces (status_package_id, seq);
