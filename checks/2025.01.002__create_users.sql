-- The case-insensitive uniqueness must be a unique index on lower(email).
DO $$
BEGIN
    IF to_regclass('public.users') IS NULL THEN
        RAISE EXCEPTION 'users table was not created';
    END IF;
    IF NOT EXISTS (
        SELECT 1
        FROM pg_index i
        WHERE i.indexrelid = to_regclass('public.users_email_lower_key')
          AND i.indisunique
          AND pg_get_indexdef(i.indexrelid) LIKE '%lower(email)%'
    ) THEN
        RAISE EXCEPTION 'users_email_lower_key is not a unique index on lower(email)';
    END IF;
END $$;
