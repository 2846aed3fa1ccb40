-- dbtool: requires feature_flags
-- Flags the app cannot evaluate sensibly: a rollout outside [0, 1] (the CHECK
-- forbids it unless someone dropped it), or a flag switched on for no environment
-- (it reads as "on" in the admin UI while no user ever sees it).
SELECT f.name, f.enabled, f.rollout, f.environments
FROM feature_flags f
WHERE f.rollout < 0
   OR f.rollout > 1
   OR (f.enabled AND cardinality(f.environments) = 0);
