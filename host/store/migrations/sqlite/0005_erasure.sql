-- Right to be forgotten (`rapport forget`). The person's PII is scrubbed locally in one transaction
-- that also records the erasure here; each sink is then told to forget them until it confirms.

-- The erasure log. Never holds PII: the person is named by their profile's random key, which links
-- to nobody once their identities, names and consents are gone. Per-sink status is in
-- erasure_sinks; completed_at is set when the last sink confirms.
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_key TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX erasures_profile ON erasures (profile_key);

-- One sink's part of an erasure: pending until the sink's plugin confirms `forget`, retried with
-- backoff meanwhile (next_attempt_at also serves as the lease of an attempt in progress).
-- last_error is kept with the person's identifiers blanked out.
CREATE TABLE erasure_sinks (
    erasure_id BIGINT NOT NULL,
    sink_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    confirmed_at BIGINT,
    PRIMARY KEY (erasure_id, sink_id)
);
CREATE INDEX erasure_sinks_due ON erasure_sinks (sink_id, status, next_attempt_at);

-- The only copy of a forgotten person's identifiers left after the local scrub, kept so the sinks
-- can be told whom to forget. Deleted in the transaction that records the last sink's confirmation.
CREATE TABLE erasure_identities (
    erasure_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (erasure_id, kind, value)
);
