-- The business metrics read every current refund of a known person made before a period's end.
-- Refunds are a few in a hundred events, but with no index on the kind that read scanned every
-- event (0.1 s at 100,000 sales, growing with the store); this partial index holds the refunds
-- alone, with what the read takes from them.
CREATE INDEX events_current_refunds ON events (occurred_at, profile_id, amount_minor, currency)
    WHERE kind = 'refund' AND superseded = 0;
