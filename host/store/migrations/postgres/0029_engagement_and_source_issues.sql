-- message_engagement: what became of the messages sinks were given, as a sink built for contract
-- 0.5 reports it (kind: delivered, opened, clicked, bounced or unsubscribed), once per vendor event
-- (sink_id, vendor_event_id), so a page read twice counts once. The person and the journey message
-- are the host's reading of the event: profile_id when it names someone the host knows, outbox_id
-- and entry_id (with that entry's journey and arm) when it is tied to a message the host sent.
CREATE TABLE message_engagement (
    id BIGSERIAL PRIMARY KEY,
    sink_id TEXT NOT NULL,
    vendor_event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    profile_id BIGINT,
    outbox_id BIGINT,
    entry_id BIGINT,
    journey TEXT,
    arm TEXT,
    vendor_message_id TEXT,
    recorded_at BIGINT NOT NULL,
    UNIQUE (sink_id, vendor_event_id)
);
CREATE INDEX message_engagement_journey ON message_engagement (journey, arm, channel);
CREATE INDEX message_engagement_profile ON message_engagement (profile_id);

-- A service issue a source reported (contract 0.5's service-issues) is keyed by the source and the
-- vendor's id of the issue, so the source closing it closes the same issue. NULL for issues opened
-- through the API or the command line.
ALTER TABLE profile_issues ADD COLUMN source_id TEXT;
ALTER TABLE profile_issues ADD COLUMN vendor_issue_id TEXT;
CREATE UNIQUE INDEX profile_issues_vendor ON profile_issues (source_id, vendor_issue_id);
