-- A claim and a completion change an outbox item's status. Every index holding the status beside
-- the person (`outbox_person`: sink, status, person) then moved the batch's entries between two
-- regions ordered by person: for a batch of 500 items of 500 people, about 400 scattered index
-- pages written to the log at the claim and 400 more at the completion (700,000 page writes to
-- deliver 100,000 orders). The indexes a status change touches are now ordered by item (the
-- claims' `outbox_ready`, which also carries the kind for the counts by sink, status and kind)
-- or hold only the few items that block a person's later work: those in flight, and those put
-- back to wait (for a retry, a deferral or a replay; a new item is due when it is queued, a held
-- profile update or a journey message holds up nothing). The person's items are found through
-- `outbox_person`, which no longer holds the status, so no status change writes to it.
DROP INDEX outbox_person;
CREATE INDEX outbox_person ON outbox (profile_id, sink_id, kind, id);

DROP INDEX outbox_ready;
CREATE INDEX outbox_ready ON outbox (sink_id, status, id, kind);

CREATE INDEX outbox_in_flight ON outbox (sink_id, profile_id) WHERE status = 'inflight';

CREATE INDEX outbox_put_back ON outbox (sink_id, profile_id, id, next_attempt_at)
    WHERE status = 'pending' AND kind <> 'message' AND next_attempt_at > created_at
      AND next_attempt_at <> 9223372036854775807;
