ALTER TABLE sessions DROP COLUMN successor_scopes;
ALTER TABLE sessions DROP COLUMN successor_access_id;
ALTER TABLE sessions DROP COLUMN previous_token_id;
