-- Operations figures. A finished delivery keeps when its work was queued (the outbox item's
-- created_at: when the event was accepted), so sync latency is its `at` minus `queued_at`; rows
-- finished before this migration have none.
ALTER TABLE deliveries ADD COLUMN queued_at BIGINT;
CREATE INDEX deliveries_finished ON deliveries (sink_id, at);

-- Time each sink's work was held by its vendor's rate limits (a 429 or Retry-After pause, as
-- capped), cumulative since the sink first was throttled.
CREATE TABLE sink_rate_limit_waits (
    sink_id TEXT NOT NULL PRIMARY KEY,
    waited_ms BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
