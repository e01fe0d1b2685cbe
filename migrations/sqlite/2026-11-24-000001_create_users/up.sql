-- Users and their personal details (API.md §2).
-- `INTEGER PRIMARY KEY` makes `id` the rowid alias (diesel reads it as BigInt);
-- TEXT comparisons use the BINARY collation, so usernames stay case-sensitive.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT true
);

CREATE TABLE user_details (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    email TEXT UNIQUE NULL,
    phone TEXT UNIQUE NULL,
    full_name TEXT NULL
);
