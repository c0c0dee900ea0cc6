-- The store's summary and the operations figures count rows of the whole events table, the whole
-- outbox and a window of deliveries. Each count now reads an index that holds every column it
-- needs, never the rows themselves (on a store of a million sales, in the sqlite3 shell: the
-- events by kind and state 0.66 s to 0.11 s, the outbox by sink, kind and status 2.9 s to 0.9 s,
-- the sync latencies counted in a sink's window 0.18 s to 0.07 s, each latency rank 0.74 s to
-- 0.43 s).
-- The two outbox and deliveries indexes keep their leading columns, so every read that used them
-- still does; only the events index is new.
CREATE INDEX events_states ON events (kind, state, superseded);

DROP INDEX outbox_ready;
CREATE INDEX outbox_ready ON outbox (sink_id, status, id, kind);

DROP INDEX deliveries_finished;
CREATE INDEX deliveries_finished ON deliveries (sink_id, at, outcome, kind, queued_at);
