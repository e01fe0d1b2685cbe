-- API keys (API.md §10). Only the SHA-256 of a key is kept (`digest`, hex),
-- with its first characters after `zk_` (`prefix`) to tell keys apart in a
-- list; `scopes` as for users (space-separated names in name order); times
-- are Unix seconds. A key goes with its user.
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT NULL
);

CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
CREATE INDEX api_keys_expires_at_idx ON api_keys (expires_at);
