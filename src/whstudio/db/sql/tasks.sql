-- name: insert
INSERT INTO tasks (question_id, creator_id, title, description, consensus_threshold,
                   min_agreement_percentage, allow_tie, priority, status, expires_at)
VALUES (%(question_id)s, %(creator_id)s, %(title)s, %(description)s, %(consensus_threshold)s,
        %(min_agreement_percentage)s, %(allow_tie)s, %(priority)s, %(status)s, %(expires_at)s)
RETURNING id, question_id, title, status, consensus_threshold, min_agreement_percentage, allow_tie,
          priority, expires_at, created_at;

-- name: for_question
SELECT id FROM tasks WHERE question_id = %(question_id)s ORDER BY created_at LIMIT 1;

-- name: count_by_status
SELECT status, count(*) AS tasks FROM tasks GROUP BY status ORDER BY 1;
