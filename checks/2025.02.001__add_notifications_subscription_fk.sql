-- The constraint must exist and already be enforced for new rows; it is
-- expected to be NOT VALID until 2025.02.002.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'notifications'::regclass
          AND conname = 'notifications_subscription_id_fkey'
          AND contype = 'f'
          AND confrelid = 'subscriptions'::regclass
          AND confdeltype = 'c'
    ) THEN
        RAISE EXCEPTION 'foreign key notifications_subscription_id_fkey -> subscriptions (ON DELETE CASCADE) is missing';
    END IF;
END $$;
