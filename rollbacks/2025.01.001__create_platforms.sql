-- Drops the catalog together with its identity sequence, index and comments.
-- No IF EXISTS and no CASCADE on purpose: if the table is already gone, or a
-- view someone added depends on it, the rollback should stop and say so.
DROP TABLE platforms;
