-- Back to no foreign key on notifications.subscription_id (its index, from
-- 2025.01.004, stays).
ALTER TABLE notifications DROP CONSTRAINT notifications_subscription_id_fkey;
