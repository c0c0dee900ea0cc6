-- The channel a journey wait would message the person on, so a consent revoked on that channel
-- withdraws the person's waits at once, whatever the journey's name. Waits planned before this
-- migration have none; the scheduler still drops them when they fall due without consent.
ALTER TABLE journey_due ADD COLUMN channel TEXT;
CREATE INDEX journey_due_channel ON journey_due (profile_id, channel);
