-- The webhook inbox keeps one copy of each refused body per source: a body refused again counts
-- another attempt on its row (with the latest time and reason) instead of a new copy. Copies kept
-- before this migration collapse into their oldest row, with their count.
ALTER TABLE webhook_inbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 1;
UPDATE webhook_inbox SET attempts = (
    SELECT COUNT(*) FROM webhook_inbox AS same
    WHERE same.source_id = webhook_inbox.source_id AND same.body_sha256 = webhook_inbox.body_sha256
);
DELETE FROM webhook_inbox WHERE id > (
    SELECT MIN(first.id) FROM webhook_inbox AS first
    WHERE first.source_id = webhook_inbox.source_id AND first.body_sha256 = webhook_inbox.body_sha256
);
CREATE UNIQUE INDEX webhook_inbox_body ON webhook_inbox (source_id, body_sha256);
