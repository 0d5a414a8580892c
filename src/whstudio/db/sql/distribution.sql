-- name: next
-- next_task_v1 (revision 0003) holds the queue logic: one call per request.
SELECT task_id, lease_expires_at
  FROM next_task_v1(%(user_id)s, %(lease_seconds)s, %(gold_first)s)
 WHERE task_id IS NOT NULL;

-- name: skip
INSERT INTO task_skips (task_id, user_id, reason) VALUES (%(task_id)s, %(user_id)s, %(reason)s)
ON CONFLICT (task_id, user_id) DO UPDATE SET reason = excluded.reason,
                                             created_at = CURRENT_TIMESTAMP;

-- name: release
DELETE FROM task_leases WHERE task_id = %(task_id)s AND user_id = %(user_id)s;
