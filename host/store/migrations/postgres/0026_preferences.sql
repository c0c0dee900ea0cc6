-- The preference page (/preferences/{token}), where a person changes their own choices.
--
-- preference_key: the shop's key that signs the page's links, one row, made by the first host that
-- needs it (the host writes random bytes once; every host sharing the database then reads the same
-- key, so a link one host made opens on every other). Plugins never reach the database.
CREATE TABLE preference_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- person_quiet_hours: the hours a person asked on the page not to be contacted in, as minutes of
-- the day in the shop's time zone (start after end wraps midnight); journey messages wait for
-- their end as they do for the shop's.
CREATE TABLE person_quiet_hours (
    profile_id BIGINT NOT NULL PRIMARY KEY,
    start_minute INTEGER NOT NULL,
    end_minute INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A privacy request waits for the operator's confirmation until confirmed_at is set: a "forget me"
-- from the page does (`rapport privacy confirm ID`); the requests vendors forward come confirmed.
ALTER TABLE privacy_requests ADD COLUMN confirmed_at BIGINT;
UPDATE privacy_requests SET confirmed_at = received_at;
