-- Accounts of the Digital Manager app.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CONSTRAINT users_email_check CHECK (email LIKE '_%@_%'),
    display_name  text,
    -- IANA zone name; the reminder job sends "renews tomorrow" in the user's own morning.
    time_zone     text NOT NULL DEFAULT 'UTC',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Emails are unique case-insensitively. A unique index on lower(email) does this
-- without the citext extension (extensions need privileges managed hosts may not give);
-- lookups must use WHERE lower(email) = lower($1) to hit it.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

COMMENT ON TABLE users IS 'Accounts of the Digital Manager app; one row per person.';
COMMENT ON COLUMN users.email IS 'Login and notification address; unique ignoring case (users_email_lower_key).';
