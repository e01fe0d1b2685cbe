-- API.md §9: superusers, each user's granted scopes, when a user was
-- created, the scopes a session was granted at login, and the audit trail.
-- Scopes are stored as text: space-separated names in name order. Existing
-- users and sessions get the default grant `me`; existing users are taken
-- to have been created now.
ALTER TABLE users ADD COLUMN is_superuser BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN scopes TEXT NOT NULL DEFAULT 'me';
ALTER TABLE users ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE users SET created_at = CAST(strftime('%s', 'now') AS INTEGER);

ALTER TABLE sessions ADD COLUMN scopes TEXT NOT NULL DEFAULT 'me';

-- Security events (API.md §9). `AUTOINCREMENT`: an id is never reused, not
-- even after the newest events were pruned, so `before=<id>` pages stay
-- stable. Actor and subject are usernames, not foreign keys: the events
-- about a user outlive the user.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NULL,
    subject TEXT NULL,
    client_address TEXT NULL,
    user_agent TEXT NULL,
    request_id TEXT NULL
);

CREATE INDEX audit_events_subject_id_idx ON audit_events (subject, id);
CREATE INDEX audit_events_action_id_idx ON audit_events (action, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);
