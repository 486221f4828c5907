-- edoc-gateway schema 12 (postgres): when the poller last listed each upstream successfully (the
-- gateway_poller_lag_seconds metric); 0 until a successful listing is recorded.
ALTER TABLE upstream_health ADD COLUMN last_poll_at BIGINT NOT NULL DEFAULT 0;
