-- name: ensure_judge
-- An account for a judge whose answers come with an imported file: no password, not active
-- (it records who answered; nobody signs in as it), of the kind the file says (person or model
-- judge) and in its groups. An existing account of that name is used, its kind kept, and the
-- file's groups added to its own (written only when that adds one); the caller refuses one that
-- people sign in with (active, or staff).
WITH made AS (
    INSERT INTO users (username, display_name, role, is_active, kind, groups)
    VALUES (%(username)s, %(display_name)s, 'annotator', false, %(kind)s, %(groups)s::text[])
    ON CONFLICT (username) DO NOTHING
    RETURNING id
), grouped AS (
    UPDATE users u
       SET groups = ARRAY(SELECT DISTINCT g FROM unnest(u.groups || %(groups)s::text[]) AS g
                           ORDER BY g)
     WHERE u.username = %(username)s AND NOT EXISTS (SELECT 1 FROM made)
       AND NOT u.is_active AND u.role = 'annotator'
       AND NOT u.groups @> %(groups)s::text[]
    RETURNING u.id
)
SELECT id, true AS created, false AS is_active, 'annotator' AS role, %(kind)s AS kind
  FROM made
UNION ALL
SELECT id, false AS created, is_active, role, kind FROM users
 WHERE username = %(username)s AND NOT EXISTS (SELECT 1 FROM made);

-- name: label_answer
-- An imported answer's verdict in its source's words, where they say more than the answer.
UPDATE submissions SET source_label = %(source_label)s WHERE id = %(id)s;

-- name: answers_from_file
-- For the rest of the import's transaction (or until turned off): answers come from a file,
-- given where nobody saw this app's consensus, so none is informed (submit_answer_v1).
SELECT set_config('whstudio.answers_from_file', %(on)s, true);
