-- Feature flags of the deployment plan: gradual rollout per environment,
-- read by the Netlify functions instead of a hard-coded object.

CREATE TABLE feature_flags (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL
                  CONSTRAINT feature_flags_name_key UNIQUE
                  CONSTRAINT feature_flags_name_check CHECK (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    description   text,
    enabled       boolean NOT NULL DEFAULT false,
    -- Share of users who see the feature: the app compares hash(user id) < rollout.
    rollout       numeric(5,4) NOT NULL DEFAULT 0
                  CONSTRAINT feature_flags_rollout_check CHECK (rollout BETWEEN 0 AND 1),
    environments  text[] NOT NULL DEFAULT '{}'
                  CONSTRAINT feature_flags_environments_check
                  CHECK (environments <@ ARRAY['development', 'staging', 'production']),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE feature_flags IS 'Gradual rollout switches: a flag is on for a user when enabled, the environment is listed and hash(user) < rollout.';
COMMENT ON COLUMN feature_flags.rollout IS 'Fraction of users, 0 to 1 (0.25 = 25%).';

-- Same trigger function as subscriptions (2025.01.003).
CREATE TRIGGER feature_flags_set_updated_at
    BEFORE UPDATE ON feature_flags
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- The three flags of the deployment plan, with the plan's values.
INSERT INTO feature_flags (name, description, enabled, rollout, environments) VALUES
    ('new-search-ui',          'Redesigned platform search',            true,  0.25, ARRAY['staging', 'production']),
    ('enhanced-notifications', 'Richer renewal reminders',              true,  0.10, ARRAY['staging']),
    ('platform-analytics',     'Spending analytics per platform',       false, 0.00, ARRAY[]::text[]);
