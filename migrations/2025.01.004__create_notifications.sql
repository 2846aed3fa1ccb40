-- Reminders and alerts queued for users (renewal in N days, price change, ...).

CREATE TABLE notifications (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL for account-level messages (welcome, ...). Its foreign key comes later,
    -- in 2025.02.001/002, once this table holds live rows: the online two-step way.
    subscription_id  bigint,
    kind             text NOT NULL
                     CONSTRAINT notifications_kind_check
                     CHECK (kind IN ('renewal_reminder', 'price_change', 'trial_ending',
                                     'payment_failed', 'welcome')),
    scheduled_for    timestamptz NOT NULL,
    -- NULL until the delivery worker has sent it.
    sent_at          timestamptz,
    -- Template variables for the message; an object so that keys can be added freely.
    payload          jsonb NOT NULL DEFAULT '{}'
                     CONSTRAINT notifications_payload_check CHECK (jsonb_typeof(payload) = 'object'),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- New, empty table: plain CREATE INDEX takes no lock anyone waits for.
CREATE INDEX notifications_user_id_idx ON notifications (user_id);
CREATE INDEX notifications_subscription_id_idx ON notifications (subscription_id);
-- The delivery worker's queue: only unsent rows, so the index stays small
-- however much history accumulates.
CREATE INDEX notifications_due_idx ON notifications (scheduled_for) WHERE sent_at IS NULL;

COMMENT ON TABLE notifications IS 'Messages queued for users; a row with sent_at NULL is still to be delivered.';
COMMENT ON COLUMN notifications.payload IS 'Template variables (JSON object), e.g. {"days_before": 3}.';
