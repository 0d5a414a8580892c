-- name: lock_new_name
-- Accounts are made one at a time per name whatever its case (users.insert checks the case).
SELECT pg_advisory_xact_lock(hashtext('username:' || lower(%(username)s)));

-- name: insert
-- A new account, unless the name is taken in any case ('Alice' beside 'alice' would let one
-- pass for the other).
INSERT INTO users (username, display_name, role, password_hash)
SELECT %(username)s, %(display_name)s, %(role)s, %(password_hash)s
 WHERE NOT EXISTS (SELECT 1 FROM users u WHERE lower(u.username) = lower(%(username)s))
ON CONFLICT (username) DO NOTHING
RETURNING id, username, display_name, role, is_active, reputation_score, created_at, kind, groups;

-- name: by_username
SELECT id, username, display_name, role, is_active, reputation_score, created_at, kind, groups,
       password_hash
  FROM users WHERE username = %(username)s;

-- name: list
SELECT id, username, display_name, role, is_active, reputation_score, created_at, kind, groups
  FROM users ORDER BY username;

-- name: set_groups
-- An account's groups (replaced whole) and kind; a NULL leaves that one as it is.
UPDATE users
   SET groups = coalesce(%(groups)s::text[], groups), kind = coalesce(%(kind)s, kind)
 WHERE username = %(username)s
RETURNING id, username, display_name, role, is_active, reputation_score, created_at, kind, groups;

-- name: set_password
UPDATE users SET password_hash = %(password_hash)s, is_active = true
 WHERE username = %(username)s
RETURNING id;

-- name: rehash_password
UPDATE users SET password_hash = %(password_hash)s WHERE id = %(id)s;

-- name: deactivate
UPDATE users SET is_active = false WHERE username = %(username)s
RETURNING id;

-- name: set_role
UPDATE users SET role = %(role)s WHERE username = %(username)s
RETURNING id, role;

-- name: other_active_admins
-- The other admins who can still sign in, locked so that two admins cannot deactivate each other
-- at once and leave none.
SELECT id FROM users
 WHERE role = 'admin' AND is_active AND id <> %(id)s
 ORDER BY id
   FOR UPDATE;

-- name: revoke_all_tokens
UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP
 WHERE user_id = %(user_id)s AND revoked_at IS NULL;

-- name: revoke_all_sessions
UPDATE web_sessions SET revoked_at = CURRENT_TIMESTAMP
 WHERE user_id = %(user_id)s AND revoked_at IS NULL;

-- name: lock_name
-- Sign-in checks for one name, one at a time (until the transaction ends).
SELECT pg_advisory_xact_lock(hashtext(%(key)s));

-- name: failures
SELECT failures, last_failure_at, CURRENT_TIMESTAMP AS now
  FROM login_failures WHERE key = %(key)s;

-- name: record_failure
INSERT INTO login_failures AS f (key, failures) VALUES (%(key)s, 1)
ON CONFLICT (key) DO UPDATE
   SET failures = CASE WHEN f.last_failure_at < CURRENT_TIMESTAMP - interval '1 hour' THEN 1
                       ELSE f.failures + 1 END,
       last_failure_at = CURRENT_TIMESTAMP
RETURNING failures;

-- name: clear_failures
DELETE FROM login_failures WHERE key = %(key)s;

-- name: start_session
INSERT INTO web_sessions (user_id, expires_at, user_agent)
VALUES (%(user_id)s, CURRENT_TIMESTAMP + make_interval(secs => %(max_age)s), left(%(user_agent)s, 500))
RETURNING id;

-- name: session_user
SELECT u.id, u.username, u.display_name, u.role
  FROM web_sessions s JOIN users u ON u.id = s.user_id
 WHERE s.id = %(session_id)s AND s.revoked_at IS NULL AND s.expires_at > CURRENT_TIMESTAMP
   AND u.is_active;

-- name: end_session
UPDATE web_sessions SET revoked_at = CURRENT_TIMESTAMP
 WHERE id = %(session_id)s AND revoked_at IS NULL;
