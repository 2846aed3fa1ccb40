-- dbtool: requires subscriptions platforms
-- A user's dashboard: all their subscriptions, next renewal first.
SELECT s.id, p.name AS platform, p.category, s.plan_name, s.price, s.currency,
       s.billing_cycle, s.renewal_date, s.status
FROM subscriptions s
JOIN platforms p ON p.id = s.platform_id
WHERE s.user_id = 42
ORDER BY s.status, s.renewal_date;
