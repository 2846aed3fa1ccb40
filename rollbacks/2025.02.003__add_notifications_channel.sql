-- Dropping the column loses nothing: payload still holds each row's channel.
ALTER TABLE notifications DROP COLUMN channel;
