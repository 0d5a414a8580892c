-- name: held_lease
-- A live lease this annotator already holds on a task they have not answered: `next` returns it
-- again instead of reserving a second task.
SELECT l.task_id
  FROM task_leases l
  JOIN response_consensus c ON c.task_id = l.task_id
 WHERE l.user_id = %(user_id)s AND l.expires_at > CURRENT_TIMESTAMP AND c.task_active
   AND NOT EXISTS (SELECT 1 FROM submissions s
                    WHERE s.task_id = l.task_id AND s.user_id = %(user_id)s)
 ORDER BY l.created_at
 LIMIT 1;

-- name: candidates
-- Open tasks this annotator has not answered or skipped, closest to consensus first, then by
-- priority: one scan of response_consensus_queue_idx.
SELECT c.task_id, c.remaining
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
 WHERE c.task_active AND c.remaining > 0 AND c.has_gold = false
   AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
   AND NOT EXISTS (SELECT 1 FROM submissions s
                    WHERE s.task_id = c.task_id AND s.user_id = %(user_id)s)
   AND NOT EXISTS (SELECT 1 FROM task_skips k
                    WHERE k.task_id = c.task_id AND k.user_id = %(user_id)s)
   AND (SELECT count(*) FROM task_leases l
         WHERE l.task_id = c.task_id AND l.expires_at > CURRENT_TIMESTAMP
           AND l.user_id <> %(user_id)s) < c.remaining
 ORDER BY c.has_gold, c.remaining, c.task_priority DESC, c.task_id
 LIMIT %(limit)s;

-- name: gold_candidates
-- Gold checks are put to every annotator, whatever their threshold, until each has answered.
SELECT c.task_id, c.remaining
  FROM response_consensus c
  JOIN tasks t ON t.id = c.task_id
 WHERE c.task_active AND c.has_gold
   AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
   AND NOT EXISTS (SELECT 1 FROM submissions s
                    WHERE s.task_id = c.task_id AND s.user_id = %(user_id)s)
   AND NOT EXISTS (SELECT 1 FROM task_skips k
                    WHERE k.task_id = c.task_id AND k.user_id = %(user_id)s)
 ORDER BY c.task_priority DESC, c.task_id
 LIMIT %(limit)s;

-- name: lock_candidate
-- Taken in the transaction that writes the lease, so two annotators cannot both take the last
-- free place of a task; a task being written by someone else is skipped, not waited for.
SELECT c.remaining, c.has_gold, c.task_active
  FROM response_consensus c
 WHERE c.task_id = %(task_id)s
   FOR NO KEY UPDATE SKIP LOCKED;

-- name: live_leases
SELECT count(*) AS n FROM task_leases
 WHERE task_id = %(task_id)s AND expires_at > CURRENT_TIMESTAMP AND user_id <> %(user_id)s;

-- name: take_lease
INSERT INTO task_leases (task_id, user_id, expires_at)
VALUES (%(task_id)s, %(user_id)s, CURRENT_TIMESTAMP + make_interval(secs => %(seconds)s))
ON CONFLICT (task_id, user_id) DO UPDATE SET expires_at = excluded.expires_at
RETURNING expires_at;

-- name: purge_expired
DELETE FROM task_leases WHERE task_id = %(task_id)s AND expires_at <= CURRENT_TIMESTAMP;

-- name: skip
INSERT INTO task_skips (task_id, user_id, reason) VALUES (%(task_id)s, %(user_id)s, %(reason)s)
ON CONFLICT (task_id, user_id) DO UPDATE SET reason = excluded.reason,
                                             created_at = CURRENT_TIMESTAMP;

-- name: release
DELETE FROM task_leases WHERE task_id = %(task_id)s AND user_id = %(user_id)s;
