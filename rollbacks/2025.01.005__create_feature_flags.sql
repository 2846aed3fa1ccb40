-- Drops the flags (the seed rows go with the table) and their trigger.
-- set_updated_at() stays: it belongs to 2025.01.003.
DROP TABLE feature_flags;
