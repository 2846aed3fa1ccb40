-- dbtool: requires subscriptions
-- The dashboard's "you spend per month" box: active subscriptions of one user,
-- normalised to a monthly amount, one total per currency (never converted).
SELECT s.currency,
       round(sum(s.price * CASE s.billing_cycle
                               WHEN 'weekly'    THEN 52.0 / 12
                               WHEN 'monthly'   THEN 1
                               WHEN 'quarterly' THEN 1.0 / 3
                               WHEN 'yearly'    THEN 1.0 / 12
                           END), 2) AS monthly_total,
       count(*) AS subscriptions
FROM subscriptions s
WHERE s.user_id = 42
  AND s.status = 'active'
GROUP BY s.currency
ORDER BY s.currency;
