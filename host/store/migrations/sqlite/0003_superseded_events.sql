-- An event superseded by a later version of the same vendor object (an order seen again after an
-- update, a refund seen by both webhook and poll). Totals count only the latest version, and this
-- flag lets them do so from one index instead of looking up every event's later versions.
ALTER TABLE events ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
UPDATE events SET superseded = 1
WHERE id < (SELECT MAX(l.id) FROM events l
            WHERE l.source_id = events.source_id AND l.kind = events.kind
              AND l.object_id = events.object_id);
DROP INDEX events_profile;
CREATE INDEX events_totals ON events (profile_id, kind, superseded, currency, amount_minor, occurred_at);
