-- Profiles kept current on ingest. An order's sales channel and its spend per category (JSON
-- [[category, minor], ...]) are kept on its event row, so a profile's facts are worked out again
-- from its counted sales' rows alone, never their payloads. profile_facts holds each profile's
-- summary (rapport_core::profile::facts), rewritten in the transaction of every ingest, merge or
-- unmerge that changes the profile's sales; category_spend is JSON
-- [{category, month, spend_minor}]. Service issues a person raised are kept per profile, with who
-- opened and closed them. Facts are empty after this migration: the host rebuilds them all once,
-- when it finds orders without categories (an upgrade), and fills those in from their payloads.
ALTER TABLE events ADD COLUMN channel TEXT;
ALTER TABLE events ADD COLUMN categories TEXT;
UPDATE events SET channel = json_extract(payload, '$.channel') WHERE kind = 'order';
-- Orders whose categories are still to be filled in from their payloads: empty once the host has
-- rebuilt the facts, so finding out at every start whether it must costs one index probe.
CREATE INDEX events_without_categories ON events (id) WHERE kind = 'order' AND categories IS NULL;

CREATE TABLE profile_facts (
    profile_id BIGINT NOT NULL PRIMARY KEY,
    orders BIGINT NOT NULL,
    store_orders BIGINT NOT NULL,
    online_orders BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    returns BIGINT NOT NULL,
    first_visit_at BIGINT,
    last_visit_at BIGINT,
    currency TEXT,
    net_spend_minor BIGINT NOT NULL,
    median_basket_minor BIGINT,
    mean_days_between_visits REAL,
    median_days_between_visits REAL,
    category_spend TEXT NOT NULL,
    refreshed_at BIGINT NOT NULL
);

CREATE TABLE profile_issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    opened_by TEXT NOT NULL,
    closed_at BIGINT,
    closed_by TEXT
);
CREATE INDEX profile_issues_profile ON profile_issues (profile_id, closed_at);
