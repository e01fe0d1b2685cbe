-- Refresh-token families (API.md §3.5) and failed logins (API.md §3.3).
-- `family` and `current_token_id` are token ids (text); times are Unix
-- seconds.
CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    family TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_token_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT false
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);

CREATE INDEX login_failures_key_failed_at_idx ON login_failures (key, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);
