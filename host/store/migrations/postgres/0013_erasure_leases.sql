-- The sinks' parts of erasures are claimed like outbox items: a claimed part is 'inflight' until
-- lease_until, where a claim used to push next_attempt_at forward as its lease. A part leased the
-- old way stays 'pending', due when that lease ends: it is retried then, as before.
ALTER TABLE erasure_sinks ADD COLUMN lease_until BIGINT;
