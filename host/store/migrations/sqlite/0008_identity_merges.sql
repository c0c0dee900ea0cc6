-- The identity graph's merges (`rapport identity`). A merge moves one profile's identities, events,
-- consent choices and pending work to an older profile; the log below records each one with what it
-- moved, so an operator can undo it. It never holds PII: rows are referenced by id, and the reason is
-- the kind of identity that linked the two profiles (or the operator's note), never its value.

-- Identities get a row id, so a merge can say which ones it moved without copying them.
CREATE TABLE identities_with_ids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    profile_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, value)
);
INSERT INTO identities_with_ids (kind, value, profile_id, created_at)
SELECT kind, value, profile_id, created_at FROM identities ORDER BY created_at, kind, value;
DROP TABLE identities;
ALTER TABLE identities_with_ids RENAME TO identities;
CREATE INDEX identities_profile ON identities (profile_id);

-- A profile absorbed by a merge keeps its row (and its names) until the merge is undone.
ALTER TABLE profiles ADD COLUMN merged_into BIGINT;

-- One merge: the absorbed profile into the survivor. reason: the identity kind that linked them, or
-- "operator: <note>"; evidence: "<source>:<source event id>" or "operator". took_names: the survivor
-- had no names and took the absorbed one's. unmerged_at: when the merge was undone.
CREATE TABLE identity_merges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    survivor_id BIGINT NOT NULL,
    absorbed_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    took_names BIGINT NOT NULL,
    merged_at BIGINT NOT NULL,
    unmerged_at BIGINT
);
CREATE INDEX identity_merges_survivor ON identity_merges (survivor_id);
CREATE INDEX identity_merges_absorbed ON identity_merges (absorbed_id);

-- What a merge moved to the survivor: item is identity, event, ledger (a consent_ledger row) or
-- outbox (a pending work item); row_id is that row's id.
CREATE TABLE identity_merge_moves (
    merge_id BIGINT NOT NULL,
    item TEXT NOT NULL,
    row_id BIGINT NOT NULL,
    PRIMARY KEY (merge_id, item, row_id)
);
