-- There is no "UNVALIDATE": validation flips pg_constraint.convalidated to true
-- and only a new constraint can be NOT VALID again. Drop it and add it back
-- exactly as 2025.02.001 did, so the schema matches the state before 2025.02.002.
-- Both statements are instant (no scan); rows written meanwhile stay checked.
ALTER TABLE notifications DROP CONSTRAINT notifications_subscription_id_fkey;
ALTER TABLE notifications
    ADD CONSTRAINT notifications_subscription_id_fkey
    FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE
    NOT VALID;
