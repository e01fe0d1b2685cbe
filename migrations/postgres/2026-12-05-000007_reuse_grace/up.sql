-- The refresh reuse grace (API.md §11): each rotation records the token it
-- retired and the access token it issued beside the new refresh token (NULL
-- without a grace), so that the retired token presented again within
-- AUTH__REFRESH_REUSE_GRACE_SECS of the rotation (`last_used_at`) gets the
-- same pair, signed again, instead of revoking the family. No secret is
-- stored: ids and scopes only.
ALTER TABLE sessions ADD COLUMN previous_token_id TEXT NULL;
ALTER TABLE sessions ADD COLUMN successor_access_id TEXT NULL;
ALTER TABLE sessions ADD COLUMN successor_scopes TEXT NULL;
