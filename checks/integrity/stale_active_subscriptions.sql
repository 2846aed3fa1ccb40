-- dbtool: requires subscriptions
-- Active subscriptions whose renewal_date lies more than one billing cycle in the
-- past: the renewal job stopped advancing them, or a migration broke the dates.
SELECT s.id AS subscription_id, s.user_id, s.billing_cycle, s.renewal_date
FROM subscriptions s
WHERE s.status = 'active'
  AND s.renewal_date + CASE s.billing_cycle
                           WHEN 'weekly'    THEN interval '7 days'
                           WHEN 'monthly'   THEN interval '1 month'
                           WHEN 'quarterly' THEN interval '3 months'
                           WHEN 'yearly'    THEN interval '1 year'
                       END < current_date;
