-- API.md §8: a session is started only for the credential that was
-- verified. Every password change moves the version on (a re-hash of the
-- same password does not); the session insert compares it in the same
-- statement.
ALTER TABLE users ADD COLUMN credential_version BIGINT NOT NULL DEFAULT 0;
