-- Journeys with an index of next-due times, experiments and attribution.
--
-- journey_due: one row per person waiting in a journey (a thank-you's wait after an order, the day
-- a replenishment falls due, the first day of a birthday month, when a lapsing customer's win-back
-- is due...). The scheduler reads the rows whose due_at has come, through journey_due_at, instead
-- of scanning every profile; ingest and the profile refresh write them. wait_key names the wait so
-- the same fact never queues it twice (journey, person and the order, category or year), and an
-- exit deletes it. trigger_at is when the fact that started it happened (its maximum age is checked
-- against it); detail carries what the message needs (JSON: the order, category or suggestion).
CREATE TABLE journey_due (
    id BIGSERIAL PRIMARY KEY,
    journey TEXT NOT NULL,
    profile_id BIGINT NOT NULL,
    wait_key TEXT NOT NULL UNIQUE,
    due_at BIGINT NOT NULL,
    trigger_at BIGINT NOT NULL,
    event_id BIGINT,
    detail TEXT
);
CREATE INDEX journey_due_at ON journey_due (due_at);
CREATE INDEX journey_due_person ON journey_due (profile_id, journey);

-- journey_entries: every time the scheduler let a person into a journey, and what came of it:
-- 'sent' (a message queued in the outbox, outbox_id), 'holdout' (an experiment's holdout: recorded
-- as would-have-received, nothing sent), or 'withdrawn' (an exit ended it before it went). Re-entry
-- rules and the experiment report read it; arm is the experiment arm the person was in, if any.
CREATE TABLE journey_entries (
    id BIGSERIAL PRIMARY KEY,
    journey TEXT NOT NULL,
    profile_id BIGINT NOT NULL,
    entered_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    experiment TEXT,
    arm TEXT,
    channel TEXT NOT NULL,
    event_id BIGINT,
    outbox_id BIGINT,
    detail TEXT
);
CREATE INDEX journey_entries_person ON journey_entries (profile_id, journey, entered_at);
CREATE INDEX journey_entries_experiment ON journey_entries (experiment, arm);

-- The journey entry a message was queued for (its variant, step and suggestion are read from it).
ALTER TABLE outbox ADD COLUMN entry_id BIGINT;

-- experiment_assignments: the arm each person was first given in an experiment. The arm comes
-- from a hash of the experiment and the person's key, so it is stable across restarts; it is kept
-- here so a merge keeps the survivor's older assignment.
CREATE TABLE experiment_assignments (
    experiment TEXT NOT NULL,
    profile_id BIGINT NOT NULL,
    arm TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (experiment, profile_id)
);

-- attributions: a completed sale within a journey's window after a person's entry (a message sent,
-- or a holdout's would-have-received), attributed to the latest such entry (last touch).
CREATE TABLE attributions (
    event_id BIGINT NOT NULL PRIMARY KEY,
    entry_id BIGINT NOT NULL,
    profile_id BIGINT NOT NULL,
    journey TEXT NOT NULL,
    channel TEXT NOT NULL,
    experiment TEXT,
    arm TEXT,
    sold_at BIGINT NOT NULL
);
CREATE INDEX attributions_entry ON attributions (entry_id);
