-- A failed concurrent build leaves an INVALID index that costs writes and helps
-- no query; make sure this one is valid and ready.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indexrelid = to_regclass('public.subscriptions_renewal_date_idx')
          AND i.indrelid = 'subscriptions'::regclass
          AND i.indisvalid AND i.indisready
    ) THEN
        RAISE EXCEPTION 'subscriptions_renewal_date_idx is missing or INVALID (a failed CONCURRENTLY build): drop it with DROP INDEX CONCURRENTLY and migrate again';
    END IF;
END $$;
