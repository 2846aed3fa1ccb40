-- Also outside a transaction: a plain DROP INDEX would take ACCESS EXCLUSIVE on
-- subscriptions and stop reads while it waits for the lock.
DROP INDEX CONCURRENTLY IF EXISTS subscriptions_renewal_date_idx;
