-- SQLite lets a TEXT PRIMARY KEY hold NULL (PostgreSQL does not): the configured sources and
-- sinks, and each sink's backfill, are rebuilt with NOT NULL keys, as PostgreSQL has them.
-- SQLite cannot add NOT NULL to a column in place, so each table is copied into a new one.

CREATE TABLE sources_new (
    id TEXT NOT NULL PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    plugin_digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO sources_new (id, plugin_id, plugin_digest, updated_at)
    SELECT id, plugin_id, plugin_digest, updated_at FROM sources WHERE id IS NOT NULL;
DROP TABLE sources;
ALTER TABLE sources_new RENAME TO sources;

CREATE TABLE sinks_new (
    id TEXT NOT NULL PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    plugin_digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    retired_at BIGINT
);
INSERT INTO sinks_new (id, plugin_id, plugin_digest, updated_at, retired_at)
    SELECT id, plugin_id, plugin_digest, updated_at, retired_at FROM sinks WHERE id IS NOT NULL;
DROP TABLE sinks;
ALTER TABLE sinks_new RENAME TO sinks;

CREATE TABLE backfills_new (
    sink_id TEXT NOT NULL PRIMARY KEY,
    profiles BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);
INSERT INTO backfills_new (sink_id, profiles, started_at)
    SELECT sink_id, profiles, started_at FROM backfills WHERE sink_id IS NOT NULL;
DROP TABLE backfills;
ALTER TABLE backfills_new RENAME TO backfills;
