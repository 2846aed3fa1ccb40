-- dbtool: requires notifications subscriptions
-- Notifications that point at a subscription that no longer exists. Until
-- 2025.02.002 validates the foreign key these can exist, and they make the
-- VALIDATE fail: delete them or set subscription_id to NULL first.
SELECT n.id AS notification_id, n.subscription_id
FROM notifications n
WHERE n.subscription_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = n.subscription_id);
