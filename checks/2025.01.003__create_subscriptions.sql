-- The money rules and the updated_at trigger are what the app relies on.
-- Enum labels are checked with @> so that a later ADD VALUE does not make this fail.
DO $$
BEGIN
    IF to_regclass('public.subscriptions') IS NULL THEN
        RAISE EXCEPTION 'subscriptions table was not created';
    END IF;
    IF NOT (SELECT array_agg(e.enumlabel::text) FROM pg_enum e WHERE e.enumtypid = 'billing_cycle'::regtype)
           @> ARRAY['weekly', 'monthly', 'quarterly', 'yearly'] THEN
        RAISE EXCEPTION 'enum billing_cycle lacks one of weekly, monthly, quarterly, yearly';
    END IF;
    IF NOT (SELECT array_agg(e.enumlabel::text) FROM pg_enum e WHERE e.enumtypid = 'subscription_status'::regtype)
           @> ARRAY['active', 'paused', 'cancelled', 'expired'] THEN
        RAISE EXCEPTION 'enum subscription_status lacks one of active, paused, cancelled, expired';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'subscriptions'::regclass AND conname = 'subscriptions_price_check'
                     AND contype = 'c' AND convalidated) THEN
        RAISE EXCEPTION 'CHECK subscriptions_price_check (price >= 0) is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'subscriptions'::regclass AND conname = 'subscriptions_currency_check'
                     AND contype = 'c' AND convalidated) THEN
        RAISE EXCEPTION 'CHECK subscriptions_currency_check (ISO 4217 code) is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'subscriptions'::regclass AND tgname = 'subscriptions_set_updated_at'
                     AND tgenabled = 'O' AND tgfoid = 'set_updated_at()'::regprocedure) THEN
        RAISE EXCEPTION 'trigger subscriptions_set_updated_at is missing, disabled or calls the wrong function';
    END IF;
END $$;
