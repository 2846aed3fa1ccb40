-- The seed rows must match the deployment plan. Values are only compared on rows
-- nobody has changed since (updated_at = created_at), because turning a flag up
-- later is the whole point and `dbtool verify` re-runs this script at any time.
DO $$
DECLARE
    wrong text;
BEGIN
    IF to_regclass('public.feature_flags') IS NULL THEN
        RAISE EXCEPTION 'feature_flags table was not created';
    END IF;
    SELECT string_agg(want.name, ', ') INTO wrong
    FROM (VALUES ('new-search-ui',          true,  0.25, ARRAY['staging', 'production']),
                 ('enhanced-notifications', true,  0.10, ARRAY['staging']),
                 ('platform-analytics',     false, 0.00, ARRAY[]::text[]))
         AS want (name, enabled, rollout, environments)
    LEFT JOIN feature_flags f ON f.name = want.name
    WHERE f.id IS NULL
       OR (f.updated_at = f.created_at
           AND (f.enabled, f.rollout, f.environments)
               IS DISTINCT FROM (want.enabled, want.rollout, want.environments));
    IF wrong IS NOT NULL THEN
        RAISE EXCEPTION 'feature flag seed rows missing or not as in the deployment plan: %', wrong;
    END IF;
END $$;
