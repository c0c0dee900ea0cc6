-- Every consent choice the host has heard of, per person, channel and purpose: what was chosen and
-- when, where (pos-checkbox, crm-unsubscribe, webhook, …), on what legal basis, and the record that
-- proves it ("<source>:<source event id>", never personal data). The consents table keeps the choice
-- in force: the latest, with a revocation winning a tie.
CREATE TABLE consent_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id BIGINT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    at BIGINT NOT NULL,
    source TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    evidence TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    UNIQUE (profile_id, channel, purpose, at, state, source)
);
INSERT INTO consent_ledger (profile_id, channel, purpose, state, at, source, legal_basis, evidence,
                            recorded_at)
SELECT profile_id, channel, purpose, state, at, source,
       CASE WHEN state = 'revoked' THEN 'withdrawal'
            WHEN purpose = 'marketing' THEN 'consent' ELSE 'contract' END,
       'recorded before the ledger', at
FROM consents;

-- Consent changes reach every sink ahead of other work: claims look for them first, here.
CREATE INDEX outbox_consent ON outbox (sink_id, status, id) WHERE kind = 'consent';
