-- The store's summary and the operations figures count rows of the whole events table, the whole
-- outbox and a window of deliveries. Each count now reads an index that holds every column it
-- needs, never the rows themselves (on a store of a million sales, in the sqlite3 shell: the
-- events by kind and state 0.66 s to 0.11 s, the sync latencies counted in a sink's window
-- 0.18 s to 0.07 s, each latency rank 0.74 s to 0.43 s, and the outbox by sink, kind and status
-- from a full walk with a row read per item to a walk of `outbox_person`).
-- `outbox_person` and `deliveries_finished` keep their leading columns, so every read that used
-- them still does. `outbox_ready` is left alone: recreated wider, PostgreSQL's planner (on a
-- young outbox's statistics) took it over `outbox_person` for a claim's probe of a person's items
-- in flight and filtered every item in flight per candidate (claims of 60 to 200 ms).
CREATE INDEX events_states ON events (kind, state, superseded);

DROP INDEX outbox_person;
CREATE INDEX outbox_person ON outbox (sink_id, status, profile_id, id, kind);

DROP INDEX deliveries_finished;
CREATE INDEX deliveries_finished ON deliveries (sink_id, at, outcome, kind, queued_at);
