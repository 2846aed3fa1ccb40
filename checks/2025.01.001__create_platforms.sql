-- The catalog exists, is case-insensitively unique, and the starter rows arrived.
DO $$
BEGIN
    IF to_regclass('public.platforms') IS NULL THEN
        RAISE EXCEPTION 'platforms table was not created';
    END IF;
    IF to_regclass('public.platforms_name_lower_key') IS NULL THEN
        RAISE EXCEPTION 'unique index platforms_name_lower_key is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM platforms LIMIT 1) THEN
        RAISE EXCEPTION 'platforms catalog is empty: the starter rows were not inserted';
    END IF;
END $$;
