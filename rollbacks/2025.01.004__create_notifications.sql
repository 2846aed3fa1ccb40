-- Drops the queue with its indexes and sequence.
DROP TABLE notifications;
