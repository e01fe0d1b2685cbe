-- Bulk-loads a migrated zentra Postgres database for the scale scenario
-- (bench/run.sh, measure_scale), the same data as load_sqlite.py: USERS
-- users with details, SESSIONS refresh sessions and FAILURES failed-login
-- rows, in one transaction, with generate_series, without the service and
-- without bcrypt. ANALYZE is left to the caller (run.sh runs it after
-- looking at the lookup's plan without statistics).
--
--   psql URL -v users=N -v sessions=N -v failures=N -v hash_of=NAME \
--        -f load_postgres.sql
--
-- Every loaded user gets the password hash of the existing user HASH_OF
-- (registered through zentra at the bench's cost); with USERS 0 the
-- sessions are all HASH_OF's (the empty database's refresh scenario needs
-- a live session per connection). Usernames are `u` and 8
-- hex digits, a multiplicative hash of the row number (distinct, in no
-- index order), as in load_sqlite.py and lua/scale.lua. Sessions belong to
-- random loaded users, with 32-hex family and token ids (zentra's uuids in
-- their simple form), started within the last 6 days and expiring 7 days
-- after, so all are live. Failed logins are recent (the last 10 minutes),
-- half under `user:<loaded name>` and half under `addr:10.x.y.z` keys.
--
-- To load fast, the secondary indexes of the four tables (every index but
-- the primary keys, which take rows in order anyway) are dropped for the
-- load and built again at its end, from their own definitions as the
-- migrations made them; and foreign keys are not checked row by row
-- (session_replication_role = replica: the data is consistent by
-- construction, the loaded user ids are checked to be the contiguous range
-- the sessions draw from). With the indexes in place (each row entered
-- into every index, and its foreign key checked) the load of 1M users and
-- 1M sessions took 31 s on this project's 2-core machine, 17 s of them the
-- sessions; this way 15-17 s. The built indexes are compact (fillfactor 90)
-- where grown ones would be about 70 % full (users_username_key 30 MB
-- against 37 MB, sessions_family_key 56 MB against 74 MB); the depth is
-- the same (level 2: three pages from the root to a leaf).
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL session_replication_role = replica;
SET LOCAL synchronous_commit = off;
SET LOCAL maintenance_work_mem = '256MB';
SELECT coalesce(max(id), 0) AS base, extract(epoch FROM now())::bigint AS now,
       (SELECT id FROM users WHERE username = :'hash_of') AS owner
FROM users \gset

CREATE TEMP TABLE bench_secondary ON COMMIT DROP AS
SELECT format('ALTER TABLE %I DROP CONSTRAINT %I', t.relname, c.conname) AS drop_sql,
       format('ALTER TABLE %I ADD CONSTRAINT %I %s', t.relname, c.conname, pg_get_constraintdef(c.oid)) AS create_sql
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
WHERE c.contype = 'u' AND t.relnamespace = current_schema()::regnamespace
  AND t.relname IN ('users', 'user_details', 'sessions', 'login_failures')
UNION ALL
SELECT format('DROP INDEX %I', i.relname), pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relnamespace = current_schema()::regnamespace
  AND t.relname IN ('users', 'user_details', 'sessions', 'login_failures')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid);
SELECT drop_sql FROM bench_secondary \gexec

INSERT INTO users (username, password, is_active, credential_version)
SELECT 'u' || lpad(to_hex((i * 2654435761::bigint) % 4294967296), 8, '0'),
       (SELECT password FROM users WHERE username = :'hash_of'), true, 0
FROM generate_series(1, :users) AS i
ORDER BY i;

-- The loaded ids must be base + 1 .. base + users (sessions pick from them).
SELECT count(*) = :users AND coalesce(min(id), :base + 1) = :base + 1
       AND coalesce(max(id), :base) = :base + :users AS ids_contiguous
FROM users WHERE id > :base \gset
\if :ids_contiguous
\else
  DO $$ BEGIN RAISE EXCEPTION 'load_postgres: the loaded user ids are not contiguous'; END $$;
\endif

-- As registration makes them: one details row per user, all fields NULL.
INSERT INTO user_details (user_id)
SELECT id FROM users WHERE id > :base ORDER BY id;

INSERT INTO sessions (family, user_id, current_token_id, created_at, expires_at, revoked)
SELECT replace(gen_random_uuid()::text, '-', ''),
       CASE WHEN :users > 0 THEN :base + 1 + floor(random() * :users)::bigint ELSE :owner END,
       replace(gen_random_uuid()::text, '-', ''),
       created_at, created_at + 7 * 86400, false
FROM (SELECT :now - floor(random() * 6 * 86400)::bigint AS created_at
      FROM generate_series(1, :sessions)) AS started;

INSERT INTO login_failures (key, failed_at)
SELECT CASE WHEN i % 2 = 0 AND :users > 0
       THEN 'user:u' || lpad(to_hex(((1 + floor(random() * :users)::bigint) * 2654435761) % 4294967296), 8, '0')
       ELSE 'addr:10.' || floor(random() * 256) || '.' || floor(random() * 256)
            || '.' || floor(random() * 256) END,
       :now - floor(random() * 600)::bigint
FROM generate_series(1, :failures) AS i;

SELECT create_sql FROM bench_secondary \gexec
COMMIT;
