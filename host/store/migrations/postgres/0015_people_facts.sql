-- Facts about people from contract 0.3 sources: a birthday (month and day, the year only where the
-- shop's policy keeps it) and a loyalty account (its points now and ever earned) on the profile;
-- the vendor's own version of an order (Square's), compared only with another vendor version, so
-- versions stored before it (update times) still order against update times; and the privacy
-- requests vendors forward, recorded in the ingest transaction and carried out once.
ALTER TABLE profiles ADD COLUMN birthday_month INTEGER;
ALTER TABLE profiles ADD COLUMN birthday_day INTEGER;
ALTER TABLE profiles ADD COLUMN birthday_year INTEGER;
ALTER TABLE profiles ADD COLUMN loyalty_account TEXT;
ALTER TABLE profiles ADD COLUMN loyalty_balance BIGINT;
ALTER TABLE profiles ADD COLUMN loyalty_lifetime BIGINT;
ALTER TABLE events ADD COLUMN vendor_version BIGINT;

CREATE TABLE privacy_requests (
    id BIGSERIAL PRIMARY KEY,
    source_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- The normalised identities the request names, as JSON; emptied once it is carried out.
    identities TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    handled_at BIGINT,
    -- What was done, in words (never the person's identifiers).
    outcome TEXT,
    UNIQUE (source_id, request_id, kind)
);
CREATE INDEX privacy_requests_pending ON privacy_requests (handled_at, id);
