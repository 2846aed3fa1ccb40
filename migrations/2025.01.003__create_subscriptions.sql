-- What each user pays to which platform, and when it renews.

-- Enums where the set of values is fixed by the domain and the app switches on them.
CREATE TYPE billing_cycle AS ENUM ('weekly', 'monthly', 'quarterly', 'yearly');
CREATE TYPE subscription_status AS ENUM ('active', 'paused', 'cancelled', 'expired');

COMMENT ON TYPE billing_cycle IS 'How often a subscription is charged.';
COMMENT ON TYPE subscription_status IS 'Life cycle of a subscription; only active ones renew.';

CREATE TABLE subscriptions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Deleting an account (GDPR request) removes its subscriptions with it.
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A platform that still has subscribers cannot be removed from the catalog.
    platform_id    bigint NOT NULL REFERENCES platforms (id) ON DELETE RESTRICT,
    plan_name      text,
    -- numeric, not float: money must add up to the cent.
    price          numeric(12,2) NOT NULL CONSTRAINT subscriptions_price_check CHECK (price >= 0),
    -- ISO 4217 code; amounts are never summed across currencies.
    currency       text NOT NULL DEFAULT 'USD'
                   CONSTRAINT subscriptions_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    billing_cycle  billing_cycle NOT NULL DEFAULT 'monthly',
    renewal_date   date NOT NULL,
    status         subscription_status NOT NULL DEFAULT 'active',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- PostgreSQL does not index foreign keys by itself. Without these, the user
-- dashboard scans the table and every DELETE on users/platforms scans it too.
-- Plain CREATE INDEX is fine here: the table was created a few lines above and is empty.
CREATE INDEX subscriptions_user_id_idx ON subscriptions (user_id);
CREATE INDEX subscriptions_platform_id_idx ON subscriptions (platform_id);

COMMENT ON TABLE subscriptions IS 'A user''s paid subscription to a platform, with its price and next renewal.';
COMMENT ON COLUMN subscriptions.renewal_date IS 'Next date the platform charges; advanced by one billing_cycle after each renewal.';

-- One trigger function for every table with an updated_at column, so the
-- column is right even when a row is changed by hand in psql.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION set_updated_at() IS 'BEFORE UPDATE trigger: stamps updated_at with the transaction time.';

-- The WHEN clause skips no-op updates, so re-saving an unchanged form does not
-- look like a change to the sync jobs.
CREATE TRIGGER subscriptions_set_updated_at
    BEFORE UPDATE ON subscriptions
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();
