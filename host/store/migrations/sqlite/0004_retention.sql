-- Retention. An event whose receipt details were summarised away keeps its totals columns
-- (profile_id, kind, superseded, currency, amount_minor, occurred_at) and a payload without
-- personal details; summarised_at says when (NULL: kept in full).
ALTER TABLE events ADD COLUMN summarised_at BIGINT;
CREATE INDEX events_unsummarised ON events (occurred_at) WHERE summarised_at IS NULL;

-- The work items that still need their event's payload: anything not delivered (pending, in
-- flight, or a dead letter that may be replayed). Only events with none of these are summarised.
CREATE INDEX outbox_undelivered_event ON outbox (event_id) WHERE status <> 'delivered';

-- Finished work items the retention job deleted, counted per sink and kind ('withheld' for items
-- a person's consents kept from the sink), so the delivery figures stay lifetime totals.
CREATE TABLE retired_work (
    sink_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    finished BIGINT NOT NULL,
    PRIMARY KEY (sink_id, kind)
);
