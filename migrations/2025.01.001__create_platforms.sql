-- The catalog of subscription platforms (Netflix, Spotify, ...) that users pick
-- from when they add a subscription.

CREATE TABLE platforms (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    website     text,
    -- A CHECK rather than an enum: the category list grows with the catalog,
    -- and a CHECK can be replaced online (NOT VALID + VALIDATE); enum labels cannot be removed.
    category    text NOT NULL DEFAULT 'other'
                CONSTRAINT platforms_category_check
                CHECK (category IN ('streaming', 'music', 'software', 'news', 'gaming',
                                    'fitness', 'cloud', 'education', 'other')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platforms_website_check CHECK (website ~ '^https?://')
);

-- "Netflix" and "netflix" are the same platform; the picker searches by lower(name).
CREATE UNIQUE INDEX platforms_name_lower_key ON platforms (lower(name));

COMMENT ON TABLE platforms IS 'Catalog of subscription platforms that users choose from.';
COMMENT ON COLUMN platforms.website IS 'Public home page, http(s) only; shown as a link in the UI.';

-- A starter catalog so that a fresh environment (dev, review apps) has a usable picker.
INSERT INTO platforms (name, website, category) VALUES
    ('Netflix',              'https://www.netflix.com',      'streaming'),
    ('Spotify',              'https://www.spotify.com',      'music'),
    ('Adobe Creative Cloud', 'https://www.adobe.com',        'software'),
    ('The New York Times',   'https://www.nytimes.com',      'news'),
    ('Xbox Game Pass',       'https://www.xbox.com',         'gaming');
