-- rapport schema v1 (PostgreSQL). Times are milliseconds since the Unix epoch, UTC.

-- Connectors the operator configured, with the plugin generation last loaded for each.
CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    plugin_digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sinks (
    id TEXT PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    plugin_digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Where each source stream resumes; written in the same transaction as the events it produced.
CREATE TABLE cursors (
    source_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    cursor TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source_id, stream)
);

-- Canonical POS events, deduplicated on (source, source event id). No raw identifiers here: the
-- payload's customer block is kept, but people are linked through profile_id.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    source_id TEXT NOT NULL,
    source_event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    profile_id BIGINT,
    amount_minor BIGINT,
    currency TEXT,
    occurred_at BIGINT NOT NULL,
    ingested_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (source_id, source_event_id)
);
CREATE INDEX events_object ON events (source_id, kind, object_id);
CREATE INDEX events_profile ON events (profile_id, kind);

-- Input a source or the host could not use, with where it was and why.
CREATE TABLE rejected_inputs (
    id BIGSERIAL PRIMARY KEY,
    source_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    locator TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE profiles (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    given_name TEXT,
    family_name TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Personal identifiers, apart from events, so erasure and retention stay simple.
CREATE TABLE identities (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    profile_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_profile ON identities (profile_id);

-- Latest consent per profile, channel and purpose.
CREATE TABLE consents (
    profile_id BIGINT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    at BIGINT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (profile_id, channel, purpose)
);

-- Work owed to each sink: pending -> inflight (leased) -> delivered | rejected | dead.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    sink_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    profile_id BIGINT NOT NULL,
    event_id BIGINT,
    idempotency_key TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (sink_id, idempotency_key)
);
CREATE INDEX outbox_ready ON outbox (sink_id, status, id);
CREATE INDEX outbox_profile ON outbox (sink_id, profile_id, status, id);

-- One row per finished delivery attempt outcome (ok, rejected, dead).
CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    outbox_id BIGINT NOT NULL,
    sink_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    attempts BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX deliveries_sink ON deliveries (sink_id, outcome);
