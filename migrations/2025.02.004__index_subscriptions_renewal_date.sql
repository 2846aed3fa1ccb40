-- The renewal reminder job asks every hour for active subscriptions renewing in
-- the next 7 days (checks/queries/renewal_reminders.sql); without an index that
-- is a full scan of subscriptions. Partial: only active subscriptions renew.
--
-- CONCURRENTLY builds without blocking writes, but cannot run in a transaction:
-- dbtool sees that and runs this file in autocommit, so it must stay alone here.
-- IF NOT EXISTS makes a re-run after a crash safe; a crash can also leave an
-- INVALID index behind, which IF NOT EXISTS would keep: the verify script
-- checks indisvalid (if it fails, DROP INDEX CONCURRENTLY it and migrate again).
CREATE INDEX CONCURRENTLY IF NOT EXISTS subscriptions_renewal_date_idx
    ON subscriptions (renewal_date)
    WHERE status = 'active';
