-- The delivery worker depends on the partial "due" index.
DO $$
BEGIN
    IF to_regclass('public.notifications') IS NULL THEN
        RAISE EXCEPTION 'notifications table was not created';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indexrelid = to_regclass('public.notifications_due_idx')
          AND i.indpred IS NOT NULL
    ) THEN
        RAISE EXCEPTION 'partial index notifications_due_idx (unsent rows) is missing';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'notifications'
          AND column_name = 'payload' AND data_type = 'jsonb'
    ) THEN
        RAISE EXCEPTION 'notifications.payload is not a jsonb column';
    END IF;
END $$;
