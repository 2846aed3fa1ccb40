-- dbtool: requires subscriptions users
-- Subscriptions whose owner does not exist. The foreign key forbids this; a row
-- here means the key was dropped, disabled (session_replication_role) or bypassed.
SELECT s.id AS subscription_id, s.user_id
FROM subscriptions s
LEFT JOIN users u ON u.id = s.user_id
WHERE u.id IS NULL;
