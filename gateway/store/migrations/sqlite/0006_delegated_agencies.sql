-- edoc-gateway schema 6 (SQLite): delegated agencies and transport progress.
-- parent: the agency that may act for this one (send as it, read and confirm its mailbox), as a
-- national-axis centre acts for the agencies registered under it; '' for none.
ALTER TABLE agencies ADD COLUMN parent TEXT NOT NULL DEFAULT '';
CREATE INDEX agencies_parent ON agencies (parent);

-- progress: 'processing' once a client reported it is working on a still-pending delivery
-- (the national axis's updateStatus processing); '' otherwise. progress_note: its description.
ALTER TABLE deliveries ADD COLUMN progress TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN progress_note TEXT NOT NULL DEFAULT '';
