-- The SQLite twin of this migration gives sources, sinks and backfills NOT NULL keys. PostgreSQL's
-- primary keys are NOT NULL already: nothing to change, the version is kept so both histories match.
SELECT 1;
