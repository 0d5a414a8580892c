-- name: ensure_judge
-- An account for a judge whose answers come with an imported file: no password, not active
-- (it records who answered; nobody signs in as it). An existing account of that name is used.
WITH made AS (
    INSERT INTO users (username, display_name, role, is_active)
    VALUES (%(username)s, %(display_name)s, 'annotator', false)
    ON CONFLICT (username) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM made
UNION ALL
SELECT id, false AS created FROM users
 WHERE username = %(username)s AND NOT EXISTS (SELECT 1 FROM made);
