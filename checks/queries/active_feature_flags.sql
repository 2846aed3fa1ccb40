-- dbtool: requires feature_flags
-- What a Netlify function loads at cold start: the flags switched on in its environment.
SELECT f.name, f.rollout
FROM feature_flags f
WHERE f.enabled
  AND 'production' = ANY (f.environments)
ORDER BY f.name;
