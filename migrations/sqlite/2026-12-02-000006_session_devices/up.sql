-- Sessions per device (API.md §11): where each session was last used from
-- (its login's or latest refresh's client address and user agent) and when.
-- Sessions from before keep NULLs until their next refresh.
ALTER TABLE sessions ADD COLUMN client_address TEXT NULL;
ALTER TABLE sessions ADD COLUMN user_agent TEXT NULL;
ALTER TABLE sessions ADD COLUMN last_used_at BIGINT NULL;
