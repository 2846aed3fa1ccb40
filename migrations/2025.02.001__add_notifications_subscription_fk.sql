-- Reminders of a deleted subscription must not be sent: tie notifications to
-- subscriptions, and delete them with it.
--
-- Step 1 of 2. notifications holds live rows by now, and a plain ADD FOREIGN KEY
-- would scan all of them while blocking writes to notifications AND subscriptions.
-- NOT VALID makes this statement instant: new and updated rows are checked from
-- now on, existing rows are checked by VALIDATE in 2025.02.002, in its own
-- transaction, under a lock that lets writes through.
ALTER TABLE notifications
    ADD CONSTRAINT notifications_subscription_id_fkey
    FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE
    NOT VALID;
