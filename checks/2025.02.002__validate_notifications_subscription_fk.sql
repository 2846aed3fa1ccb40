-- After VALIDATE the planner and the DBA may trust every row.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'notifications'::regclass
          AND conname = 'notifications_subscription_id_fkey'
          AND convalidated
    ) THEN
        RAISE EXCEPTION 'notifications_subscription_id_fkey is still NOT VALID';
    END IF;
END $$;
