-- Forgotten people stay forgotten: a salted digest of each identity of a forgotten person (never
-- the identity), so an old record naming them links nobody; and the store's salt, made once.
CREATE TABLE forgotten_identities (
    digest TEXT NOT NULL PRIMARY KEY,
    forgotten_at BIGINT NOT NULL
);
CREATE TABLE store_salt (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    salt TEXT NOT NULL
);
INSERT INTO store_salt (id, salt) VALUES (1, lower(hex(randomblob(16))));
