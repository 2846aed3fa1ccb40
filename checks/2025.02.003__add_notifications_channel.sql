-- The backfill reached every row (new rows get the default).
DO $$
DECLARE
    missing bigint;
BEGIN
    SELECT count(*) INTO missing FROM notifications WHERE channel IS NULL;
    IF missing > 0 THEN
        RAISE EXCEPTION 'backfill incomplete: % notifications have no channel', missing;
    END IF;
END $$;
