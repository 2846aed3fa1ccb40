-- dbtool: requires subscriptions users platforms
-- The renewal reminder job (hourly): active subscriptions renewing in the next
-- 7 days, with the address and platform to put in the e-mail.
SELECT s.id AS subscription_id, u.email, u.time_zone, p.name AS platform,
       s.price, s.currency, s.renewal_date
FROM subscriptions s
JOIN users u ON u.id = s.user_id
JOIN platforms p ON p.id = s.platform_id
WHERE s.status = 'active'
  AND s.renewal_date BETWEEN current_date AND current_date + 7
ORDER BY s.renewal_date, s.id;
