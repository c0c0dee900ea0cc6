-- Credentials of the HTTP surface, stored as sha256 of the token (never the token itself):
-- operator tokens made by `rapport token create` or on first run (role admin or staff), upload
-- tokens of one source (role upload, source_id set), browser sessions made by the login form and
-- the short-lived tokens a command makes to reach the running daemon. A session or a command's
-- token expires; revoking a token ends the sessions made with it (parent_id).
CREATE TABLE access_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    source_id TEXT,
    label TEXT NOT NULL,
    parent_id BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_parent ON access_tokens (parent_id);
