-- The table goes first: it holds the trigger that uses the function and the
-- columns that use the types.
DROP TABLE subscriptions;
DROP FUNCTION set_updated_at();
DROP TYPE subscription_status;
DROP TYPE billing_cycle;
