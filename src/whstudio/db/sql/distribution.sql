-- name: next
-- next_task_v2 (revision 0005) holds the queue logic: one call per request. The coin decides
-- gold first when it falls under the dataset's gold rate (dataset_settings, else the default).
SELECT task_id, lease_expires_at, gold_rate
  FROM next_task_v2(%(user_id)s, %(lease_seconds)s, %(coin)s, %(default_gold_rate)s,
                    %(dataset)s)
 WHERE task_id IS NOT NULL;

-- name: set_gold_rate
INSERT INTO dataset_settings (source_dataset, gold_rate) VALUES (%(dataset)s, %(gold_rate)s)
ON CONFLICT (source_dataset) DO UPDATE SET gold_rate = excluded.gold_rate,
                                           updated_at = CURRENT_TIMESTAMP
RETURNING source_dataset, gold_rate, updated_at;

-- name: clear_gold_rate
DELETE FROM dataset_settings WHERE source_dataset = %(dataset)s;

-- name: gold_rates
SELECT source_dataset, gold_rate, updated_at FROM dataset_settings ORDER BY source_dataset;

-- name: skip
INSERT INTO task_skips (task_id, user_id, reason) VALUES (%(task_id)s, %(user_id)s, %(reason)s)
ON CONFLICT (task_id, user_id) DO UPDATE SET reason = excluded.reason,
                                             created_at = CURRENT_TIMESTAMP;

-- name: release
DELETE FROM task_leases WHERE task_id = %(task_id)s AND user_id = %(user_id)s;
