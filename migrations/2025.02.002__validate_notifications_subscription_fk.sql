-- Step 2 of 2 (step 1: 2025.02.001). Checks the rows that existed before the
-- constraint. VALIDATE takes SHARE UPDATE EXCLUSIVE on notifications and ROW SHARE
-- on subscriptions: reads and writes go on while it scans.
--
-- It fails if an old notification points at a deleted subscription;
-- checks/integrity/notifications_without_subscription.sql lists those rows:
-- fix them (delete, or set subscription_id to NULL) before deploying.
ALTER TABLE notifications VALIDATE CONSTRAINT notifications_subscription_id_fkey;
