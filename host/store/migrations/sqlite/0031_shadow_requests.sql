-- Shadow sinks: the requests a sink's plugin made while its mode was "shadow", captured by the
-- host instead of sent (the vendor's credentials never stored), for the pilot report and
-- `rapport pilot requests`. outbox_id and profile_id name the work item when the call carried
-- one; shadow_request_people names every person of the call, so forgetting one deletes them.
CREATE TABLE shadow_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    items BIGINT NOT NULL,
    outbox_id BIGINT,
    profile_id BIGINT,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    captured_at BIGINT NOT NULL
);
CREATE INDEX shadow_requests_sink ON shadow_requests (sink_id, id);
CREATE TABLE shadow_request_people (
    request_id BIGINT NOT NULL,
    profile_id BIGINT NOT NULL,
    PRIMARY KEY (request_id, profile_id)
);
CREATE INDEX shadow_request_people_profile ON shadow_request_people (profile_id);
-- Each time a sink ran in shadow mode: from its first start in shadow until it started live again
-- (ended_at, when its shadow deliveries were queued again to go out for real).
CREATE TABLE shadow_periods (
    sink_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    PRIMARY KEY (sink_id, started_at)
);
