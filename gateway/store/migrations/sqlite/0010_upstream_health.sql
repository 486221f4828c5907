-- edoc-gateway schema 10 (sqlite): the last contact outcome with each upstream, for health.
-- The relay (outbox sends) and the poller (listing, fetching) record each contact, throttled:
-- a row changes when the outcome flips, and otherwise at most every few seconds.
-- failing_since: when the current run of failures began (0 while contact succeeds), so that
-- "upstream down for longer than health_upstream_down_seconds" is one comparison.
CREATE TABLE upstream_health (
    upstream        TEXT PRIMARY KEY,
    last_ok_at      INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER NOT NULL DEFAULT 0,
    failing_since   INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL
);
