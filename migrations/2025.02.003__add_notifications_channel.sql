-- Data migration: the delivery worker routes by channel (email, push, sms), which
-- the first app version kept inside payload. A real column can be filtered and
-- indexed, and the worker no longer parses JSON for every row.

-- No default yet: ADD COLUMN with a constant default would make every old row
-- read 'email' at once, hiding the payload's own value from the backfill below.
ALTER TABLE notifications ADD COLUMN channel text;

-- Backfill from payload. payload keeps its "channel" key, so the old app version
-- still works and the rollback (DROP COLUMN) loses nothing.
-- One UPDATE is fine while notifications is small. It runs under ADD COLUMN's
-- ACCESS EXCLUSIVE lock; on a large table, add the column in one migration and
-- backfill in key-ranged batches (UPDATE ... WHERE id BETWEEN ...) outside it.
-- dbtool: ignore unbatched-backfill, work-after-exclusive-lock -- notifications holds a few thousand rows; one UPDATE takes well under a second
UPDATE notifications
SET channel = coalesce(payload ->> 'channel', 'email')
WHERE channel IS NULL;

-- New rows from the old app version, which does not set channel, are email.
ALTER TABLE notifications ALTER COLUMN channel SET DEFAULT 'email';

COMMENT ON COLUMN notifications.channel IS 'Delivery channel (email, push, sms); backfilled from payload->>''channel''.';
