#!/usr/bin/env python3
"""Bulk-loads a migrated zentra SQLite database for the scale scenario
(bench/run.sh, measure_scale): USERS users with details, SESSIONS refresh
sessions and FAILURES failed-login rows, in one transaction, in SQL
(recursive CTEs), without the service and without bcrypt.

    load_sqlite.py DB_FILE USERS SESSIONS FAILURES HASH_OF

Every loaded user gets the password hash of the existing user HASH_OF
(registered through zentra at the bench's cost), so all of them log in
with that user's password. With USERS 0 the sessions are all HASH_OF's
(the empty database's refresh scenario needs a live session per
connection). Usernames are `u` and 8 hex digits, a
multiplicative hash of the row number (distinct, in no index order):
lua/scale.lua and the token list compute them alike. Sessions belong to
random loaded users, with random 32-hex family and token ids (the shape
of zentra's uuids), started within the last 6 days and expiring 7 days
after (the default refresh lifetime), so all are live. Failed logins are
recent (the last 10 minutes: none leaves the 15-minute window during the
run), half under `user:<loaded name>` keys and half under `addr:10.x.y.z`
(never the bench's 127.0.0.1), at most a few per key, so they throttle
nothing the scenarios do.

The database stays in WAL mode (as zentra sets it); the load itself runs
with synchronous=OFF and a large page cache on this connection only.
Prints one line: `LOADED users=… sessions=… failures=… seconds=…`.
"""

import sqlite3
import sys
import time

REFRESH_LIFETIME = 7 * 86400
# Knuth's multiplicative hash: odd, so i -> i * K mod 2^32 is a bijection.
NAME = "printf('u%08x', ({i} * 2654435761) % 4294967296)"


def main():
    path, users, sessions, failures, hash_of = sys.argv[1:6]
    users, sessions, failures = int(users), int(sessions), int(failures)
    started = time.monotonic()
    now = int(time.time())
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB, this connection only
    db.execute("PRAGMA temp_store = MEMORY")
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        sys.exit(f"load_sqlite: {path} is in journal_mode {mode}, not wal")
    row = db.execute("SELECT id, password FROM users WHERE username = ?", (hash_of,)).fetchone()
    if row is None:
        sys.exit(f"load_sqlite: no user {hash_of} in {path}")
    owner, password_hash = row
    base = db.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]

    db.execute("BEGIN")
    db.execute(
        f"""WITH RECURSIVE seq(i) AS (SELECT 1 WHERE :n > 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n)
            INSERT INTO users (username, password, is_active, credential_version)
            SELECT {NAME.format(i='i')}, :hash, true, 0 FROM seq""",
        {"n": users, "hash": password_hash},
    )
    # As registration makes them: one details row per user, all fields NULL.
    db.execute(
        "INSERT INTO user_details (user_id) SELECT id FROM users WHERE id > :base ORDER BY id",
        {"base": base},
    )
    if sessions > 0:
        db.execute(
            """WITH RECURSIVE seq(i) AS (SELECT 1 WHERE :n > 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n),
                    started(i, user_id, created_at) AS (
                        SELECT i, CASE WHEN :users > 0 THEN :base + 1 + abs(random() % :users)
                                  ELSE :owner END,
                               :now - abs(random() % (6 * 86400))
                        FROM seq)
               INSERT INTO sessions (family, user_id, current_token_id, created_at, expires_at, revoked)
               SELECT lower(hex(randomblob(16))), user_id, lower(hex(randomblob(16))),
                      created_at, created_at + :lifetime, false
               FROM started""",
            {"n": sessions, "base": base, "users": users, "owner": owner, "now": now,
             "lifetime": REFRESH_LIFETIME},
        )
    if failures > 0:
        db.execute(
            f"""WITH RECURSIVE seq(i) AS (SELECT 1 WHERE :n > 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n)
               INSERT INTO login_failures (key, failed_at)
               SELECT CASE WHEN i % 2 = 0 AND :users > 0
                      THEN 'user:' || {NAME.format(i='(1 + abs(random() % max(:users, 1)))')}
                      ELSE 'addr:10.' || abs(random() % 256) || '.' || abs(random() % 256)
                           || '.' || abs(random() % 256) END,
                      :now - abs(random() % 600)
               FROM seq""",
            {"n": failures, "users": users, "now": now},
        )
    db.execute("COMMIT")
    # Leave no large WAL behind for zentra's first start to replay.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(
        f"LOADED users={users} sessions={sessions} failures={failures} "
        f"seconds={time.monotonic() - started:.1f}"
    )


if __name__ == "__main__":
    main()
