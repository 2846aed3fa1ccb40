-- Drops the accounts table with its index, sequence and comments.
DROP TABLE users;
