-- Journey messages: outbox items of kind 'message' name the journey that queued them and the
-- channel they contact the person on (NULL for every other kind).
ALTER TABLE outbox ADD COLUMN journey TEXT;
ALTER TABLE outbox ADD COLUMN channel TEXT;

-- Frequency caps count a person's earlier messages on a channel: their outbox items, joined to
-- the deliveries that record when each was sent.
CREATE INDEX outbox_messages ON outbox (profile_id, channel) WHERE kind = 'message';
CREATE INDEX deliveries_outbox ON deliveries (outbox_id);
