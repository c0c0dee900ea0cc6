-- Claiming work asks which people have an item in flight or waiting for a retry. Both are found
-- without reading the sink's delivered history, which grows for ever: a person's items are indexed
-- under their status first, and pending updates (journey messages wait apart) by when they are due.
DROP INDEX outbox_profile;
CREATE INDEX outbox_person ON outbox (sink_id, status, profile_id, id);
CREATE INDEX outbox_waiting ON outbox (sink_id, next_attempt_at) WHERE status = 'pending' AND kind <> 'message';
