-- name: by_idempotency_key
SELECT id, task_id, response_version
  FROM submissions WHERE user_id = %(user_id)s AND idempotency_key = %(key)s;

-- name: task_for_answer
SELECT t.id, t.status, t.allow_tie, t.expires_at, t.expires_at <= CURRENT_TIMESTAMP AS expired,
       t.question_id, q.question_type, q.content
  FROM tasks t JOIN questions q ON q.id = t.question_id
 WHERE t.id = %(task_id)s;

-- name: retire_latest
UPDATE submissions SET is_latest = false
 WHERE task_id = %(task_id)s AND user_id = %(user_id)s AND is_latest;

-- name: insert
INSERT INTO submissions (task_id, user_id, question_id, response_version, chosen_response,
                         confidence, explanation, time_spent_seconds, shown_order, payload,
                         idempotency_key, vote_weight)
SELECT %(task_id)s, %(user_id)s, %(question_id)s,
       -- after the latest, even if an earlier version was deleted by another writer
       (SELECT coalesce(max(s.response_version), 0) + 1 FROM submissions s
         WHERE s.task_id = %(task_id)s AND s.user_id = %(user_id)s),
       %(chosen_response)s,
       %(confidence)s, %(explanation)s, %(time_spent_seconds)s, %(shown_order)s, %(payload)s,
       %(idempotency_key)s, least(u.reputation_weight, 100)::numeric(9, 6)
  FROM users u WHERE u.id = %(user_id)s
RETURNING id, response_version, created_at;

-- name: drop_lease
DELETE FROM task_leases WHERE task_id = %(task_id)s AND user_id = %(user_id)s;

-- name: by_id
SELECT id, task_id, user_id, response_version, is_latest, chosen_response, confidence,
       explanation, time_spent_seconds, shown_order, payload, created_at
  FROM submissions WHERE id = %(id)s;

-- name: history
SELECT id, task_id, user_id, response_version, is_latest, chosen_response, confidence,
       explanation, time_spent_seconds, shown_order, payload, created_at
  FROM submissions
 WHERE task_id = %(task_id)s AND user_id = %(user_id)s
 ORDER BY response_version DESC;

-- name: has_answered
SELECT EXISTS (
    SELECT 1 FROM submissions WHERE task_id = %(task_id)s AND user_id = %(user_id)s
) AS answered;

-- name: latest_transcripts
SELECT id, payload ->> 'transcript' AS transcript
  FROM submissions
 WHERE task_id = %(task_id)s AND is_latest
 ORDER BY created_at, id;

-- name: set_transcription
-- The application's word-error-rate result, then the derived fields from it.
UPDATE response_consensus
   SET details = jsonb_set(details, '{transcription}', %(transcription)s)
 WHERE task_id = %(task_id)s;

-- name: settle
SELECT consensus_store(
    consensus_derive(c, t.consensus_threshold, t.min_agreement_percentage, q.question_type,
                     jsonb_array_length(q.content -> 'options')),
    c.consensus_reached)
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
  JOIN questions q ON q.id = t.question_id
 WHERE c.task_id = %(task_id)s;
