-- Webhook deliveries the source refused as malformed, kept for an operator to inspect (nothing a
-- vendor sent is lost). Payloads refused for a bad signature are not kept: they are not the vendor's.
CREATE TABLE webhook_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    body_sha256 TEXT NOT NULL
);
CREATE INDEX webhook_inbox_source ON webhook_inbox (source_id, id);
