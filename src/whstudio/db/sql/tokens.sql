-- name: insert
INSERT INTO api_tokens (user_id, name, token_prefix, token_hash)
VALUES (%(user_id)s, %(name)s, %(token_prefix)s, %(token_hash)s)
RETURNING id, name, token_prefix, created_at, last_used_at, revoked_at;

-- name: for_user
SELECT id, name, token_prefix, created_at, last_used_at, revoked_at
  FROM api_tokens WHERE user_id = %(user_id)s ORDER BY created_at;

-- name: authenticate
-- The hash is unique, so this is one index probe; last_used_at is refreshed at most once a minute
-- so that busy scripts do not turn every read into a write.
WITH hit AS (
    SELECT t.id, t.user_id
      FROM api_tokens t
     WHERE t.token_hash = %(token_hash)s
       AND t.revoked_at IS NULL
       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
), touch AS (
    UPDATE api_tokens t SET last_used_at = CURRENT_TIMESTAMP
      FROM hit
     WHERE t.id = hit.id
       AND (t.last_used_at IS NULL OR t.last_used_at < CURRENT_TIMESTAMP - interval '1 minute')
)
SELECT u.id, u.username, u.display_name, u.role
  FROM hit JOIN users u ON u.id = hit.user_id
 WHERE u.is_active;

-- name: revoke
UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP
 WHERE id = %(id)s AND user_id = %(user_id)s AND revoked_at IS NULL
RETURNING id;
