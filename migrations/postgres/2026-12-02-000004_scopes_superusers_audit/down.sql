DROP TABLE audit_events;
ALTER TABLE sessions DROP COLUMN scopes;
ALTER TABLE users
    DROP COLUMN created_at,
    DROP COLUMN scopes,
    DROP COLUMN is_superuser;
