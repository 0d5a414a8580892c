-- name: queue
-- Disputed tasks (every answer asked for is in and there is no consensus) first, then tasks with
-- an answer flagged for review; none already adjudicated. Each half is one index range.
SELECT x.task_id, x.reason, x.since, t.title, t.status, q.question_type, q.source_dataset,
       rc.total_responses, t.consensus_threshold, rc.agreement_percentage, rc.final_answer,
       (SELECT count(*) FROM response_quality_metrics m
         WHERE m.task_id = x.task_id AND m.counted AND m.flagged_for_review) AS flagged_answers
  FROM (
        SELECT c.task_id, 'disputed'::text AS reason, 0 AS rank, c.updated_at AS since
          FROM response_consensus c
         WHERE c.remaining = 0 AND NOT c.consensus_reached
           AND c.task_status IN ('active', 'paused')
        UNION
        SELECT DISTINCT m.task_id, 'flagged'::text, 1, c.updated_at
          FROM response_quality_metrics m
          JOIN response_consensus c ON c.task_id = m.task_id
         WHERE m.flagged_for_review AND m.counted
           AND c.task_status IN ('active', 'paused')
           AND NOT (c.remaining = 0 AND NOT c.consensus_reached)
       ) AS x
  JOIN tasks t ON t.id = x.task_id
  JOIN questions q ON q.id = t.question_id
  JOIN response_consensus rc ON rc.task_id = x.task_id
 WHERE NOT EXISTS (SELECT 1 FROM task_adjudications a WHERE a.task_id = x.task_id)
   AND (%(after_rank)s::int IS NULL
        OR (x.rank, x.since, x.task_id) > (%(after_rank)s::int, %(after_since)s::timestamptz,
                                           %(after_task)s::uuid))
 ORDER BY x.rank, x.since, x.task_id
 LIMIT %(limit)s;

-- name: queue_sizes
SELECT (SELECT count(*) FROM response_consensus c
         WHERE c.remaining = 0 AND NOT c.consensus_reached
           AND c.task_status IN ('active', 'paused')
           AND NOT EXISTS (SELECT 1 FROM task_adjudications a WHERE a.task_id = c.task_id))
           AS disputed,
       (SELECT count(DISTINCT m.task_id) FROM response_quality_metrics m
          JOIN response_consensus c ON c.task_id = m.task_id
         WHERE m.flagged_for_review AND m.counted AND c.task_status IN ('active', 'paused')
           AND NOT EXISTS (SELECT 1 FROM task_adjudications a WHERE a.task_id = m.task_id))
           AS with_flags;

-- name: answers
-- Every answer to a task (all versions), with its quality marks and its annotator's standing.
SELECT s.id AS submission_id, s.user_id, u.username, u.reputation_score,
       coalesce(a.flags, '{}') AS annotator_flags, s.response_version, s.is_latest, s.informed,
       s.chosen_response, s.payload, s.confidence, s.explanation, s.time_spent_seconds,
       s.shown_order, s.created_at, m.gold_correct, m.gold_source, m.agreed,
       m.agreement_with_consensus, m.is_outlier, m.outlier_reasons, m.flagged_for_review
  FROM submissions s
  JOIN users u ON u.id = s.user_id
  LEFT JOIN annotator_stats a ON a.user_id = s.user_id
  LEFT JOIN response_quality_metrics m ON m.submission_id = s.id
 WHERE s.task_id = %(task_id)s
 ORDER BY s.is_latest DESC, s.created_at, s.response_version;

-- name: adjudication
SELECT a.task_id, a.final_answer, a.note, a.reviewer_id, u.username AS reviewer,
       a.previous_status, a.disputed_since, a.created_at
  FROM task_adjudications a
  LEFT JOIN users u ON u.id = a.reviewer_id
 WHERE a.task_id = %(task_id)s;

-- name: adjudicate
WITH task AS (
    SELECT t.id, t.status FROM tasks t WHERE t.id = %(task_id)s FOR UPDATE
), added AS (
    INSERT INTO task_adjudications (task_id, final_answer, note, reviewer_id, previous_status,
                                    disputed_since)
    SELECT task.id, %(final_answer)s, %(note)s, %(reviewer_id)s, task.status,
           (SELECT max(s.created_at) FROM submissions s
             WHERE s.task_id = task.id AND s.is_latest)
      FROM task
    ON CONFLICT (task_id) DO NOTHING
    RETURNING task_id, created_at
)
SELECT task_id, created_at FROM added;

-- name: close_task
UPDATE tasks SET status = 'completed' WHERE id = %(task_id)s AND status IN ('active', 'paused');

-- name: judge_by_adjudication
-- The adjudicated answer is the gold for this task from now on: every latest answer is judged by
-- it (and no longer by agreement); the quality trigger moves each annotator's counters.
UPDATE response_quality_metrics m
   SET gold_correct = answer_matches(s, %(final_answer)s), gold_source = 'adjudication',
       agreed = NULL, others_agreeing = NULL, others_total = NULL,
       agreement_with_consensus = NULL, computed_at = CURRENT_TIMESTAMP
  FROM submissions s
 WHERE s.id = m.submission_id AND m.task_id = %(task_id)s AND m.counted
   AND answer_matches(s, %(final_answer)s) IS NOT NULL;

-- name: ensure_voter_stats
INSERT INTO annotator_stats (user_id)
SELECT DISTINCT s.user_id FROM submissions s WHERE s.task_id = %(task_id)s AND s.is_latest
ON CONFLICT DO NOTHING;

-- name: lock_voters
SELECT 1 FROM annotator_stats a
 WHERE a.user_id IN (SELECT s.user_id FROM submissions s
                      WHERE s.task_id = %(task_id)s AND s.is_latest)
 ORDER BY a.user_id FOR NO KEY UPDATE;
