-- A sink paused as a whole, its work waiting in the outbox without using attempts: throttled by
-- its vendor (a 429 or a rate limit, until the capped Retry-After), or refused our credentials (a
-- 401 or 403), which needs the operator's attention. A delivery that goes through again ends it.
CREATE TABLE sink_pauses (
    sink_id TEXT NOT NULL PRIMARY KEY,
    paused_until BIGINT NOT NULL,
    reason TEXT NOT NULL,
    needs_attention INTEGER NOT NULL DEFAULT 0,
    since BIGINT NOT NULL
);
