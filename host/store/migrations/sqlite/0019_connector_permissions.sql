-- What each connector's plugin may ask for, as approved: the secrets its manifest names and its
-- egress destinations with the secrets injected there, one line each. A connector's first plugin
-- is approved by the config that grants its secrets; a later version that asks for more is held
-- until `rapport plugin approve` adds what it asks for here.
CREATE TABLE connector_permissions (
    connector_id TEXT NOT NULL,
    permission TEXT NOT NULL,
    plugin_version TEXT NOT NULL,
    approved_at BIGINT NOT NULL,
    PRIMARY KEY (connector_id, permission)
);
