DROP TABLE audit_events;
ALTER TABLE sessions DROP COLUMN scopes;
ALTER TABLE users DROP COLUMN created_at;
ALTER TABLE users DROP COLUMN scopes;
ALTER TABLE users DROP COLUMN is_superuser;
