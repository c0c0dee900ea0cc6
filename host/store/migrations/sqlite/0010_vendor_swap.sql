-- Swapping vendors. A sink added to a shop that already has customers is first sent every one of
-- them: its backfill, recorded once per sink with how many profiles it queued. Sinks registered
-- before this migration count as backfilled, so an upgrade sends nobody twice.
CREATE TABLE backfills (
    sink_id TEXT PRIMARY KEY,
    profiles BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);
INSERT INTO backfills (sink_id, profiles, started_at) SELECT id, 0, updated_at FROM sinks;

-- A sink being replaced (`retire = true`) takes no new work, delivers what it owes, and is then
-- retired: when it finished.
ALTER TABLE sinks ADD COLUMN retired_at BIGINT;
