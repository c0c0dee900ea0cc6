-- Order facts: an order's state, the sale's own time (placed_at) apart from when the order last
-- changed, and the vendor's version of every order and refund, which decides which version is
-- current whatever the order they arrived in. Events stored before this keep the state their
-- payload names; their event time stands for both the sale's time and the version.
ALTER TABLE events ADD COLUMN state TEXT;
ALTER TABLE events ADD COLUMN placed_at BIGINT;
ALTER TABLE events ADD COLUMN version BIGINT;
UPDATE events SET state = payload::json->>'state', placed_at = occurred_at WHERE kind = 'order';
UPDATE events SET version = occurred_at WHERE kind IN ('order', 'refund');
DROP INDEX events_totals;
CREATE INDEX events_totals ON events (profile_id, kind, superseded, state, currency, amount_minor, placed_at);
